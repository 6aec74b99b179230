import type { Clock, DeviceStatus, DeviceSummary, LiveSession, Page, Registry, SessionDirectory } from "../ports.js";

export interface DeviceViewDeps {
  readonly registry: Registry;
  readonly sessions: SessionDirectory;
  readonly clock: Clock;
}

/** A device as operators see it: registry facts plus its live sessions (every node's, in a cluster). */
export interface DeviceView extends DeviceSummary {
  readonly online: boolean;
  readonly sessions: readonly LiveSession[];
  /** ms until its active certificate expires (negative once expired); null without one. */
  readonly certificateExpiresIn: number | null;
}

export interface DeviceListQuery {
  readonly limit: number;
  readonly after?: string;
  readonly status?: DeviceStatus;
  readonly prefix?: string;
  readonly online?: boolean;
  /** Only devices whose active certificate expires within this many ms. */
  readonly expiringWithinMs?: number;
}

async function view(deps: DeviceViewDeps, device: DeviceSummary, now: number): Promise<DeviceView> {
  const sessions = await deps.sessions.sessionsOf(device.id);
  const expiresIn = device.certificateNotAfter === null ? null : device.certificateNotAfter - now;
  return { ...device, online: sessions.length > 0, sessions, certificateExpiresIn: expiresIn };
}

/**
 * One page of devices, cursor-paginated by id. A page may hold fewer than `limit` devices when the
 * online filter drops some; only `next === null` means the last page.
 */
export async function listDeviceViews(deps: DeviceViewDeps, query: DeviceListQuery): Promise<Page<DeviceView>> {
  const now = deps.clock.now();
  const filters = {
    limit: query.limit,
    ...(query.after === undefined ? {} : { after: query.after }),
    ...(query.status === undefined ? {} : { status: query.status }),
    ...(query.prefix === undefined ? {} : { prefix: query.prefix }),
    ...(query.expiringWithinMs === undefined ? {} : { expiringBefore: now + query.expiringWithinMs }),
  };
  if (query.online === true) {
    // Walk the (smaller) set of online ids; the registry applies the other filters to that page.
    const ids = await deps.sessions.onlineDeviceIds({
      ...(query.after === undefined ? {} : { after: query.after }),
      limit: query.limit,
    });
    const page = await deps.registry.listDevices({ ...filters, after: undefined, ids });
    const items = await Promise.all(page.items.map((d) => view(deps, d, now)));
    return { items, next: ids.length === query.limit ? ids[ids.length - 1]! : null };
  }
  const page = await deps.registry.listDevices(filters);
  const views = await Promise.all(page.items.map((d) => view(deps, d, now)));
  const items = query.online === false ? views.filter((v) => !v.online) : views;
  return { items, next: page.next };
}

export interface DeviceDetail extends DeviceView {
  readonly certificates: Awaited<ReturnType<Registry["listCertificates"]>>;
}

/** One device with its certificates; undefined when there is no such device. */
export async function showDevice(deps: DeviceViewDeps, id: string): Promise<DeviceDetail | undefined> {
  const device = await deps.registry.getDevice(id);
  if (device === undefined) return undefined;
  const certificates = await deps.registry.listCertificates(id);
  const active = certificates.filter((c) => c.status === "active").map((c) => c.notAfter);
  const summary = { ...device, certificateNotAfter: active.length > 0 ? Math.max(...active) : null };
  return { ...(await view(deps, summary, deps.clock.now())), certificates };
}
