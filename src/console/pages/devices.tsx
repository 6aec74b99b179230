import { useEffect, useState } from "preact/hooks";
import { enc, get, query, type Device } from "../api.js";
import { relative, when } from "../format.js";
import { useFleetEvents } from "../live.js";
import { href, navigate } from "../router.js";
import { ErrorBox, Field, OnlineBadge, StatusBadge, Table, useLoad } from "../ui.js";

export const PAGE_SIZE = 50;

interface Filters {
  readonly prefix: string;
  readonly status: string;
  readonly online: string;
  readonly expiring: string;
}

function filtersOf(params: URLSearchParams): Filters {
  return {
    prefix: params.get("prefix") ?? "",
    status: params.get("status") ?? "",
    online: params.get("online") ?? "",
    expiring: params.get("expiring") ?? "",
  };
}

/**
 * Devices, searched and filtered by the server, one page of 50 at a time by cursor (the API's
 * `after` / `x-next-cursor`): as fast with 100,000 devices as with 10. The cursors of the pages
 * before are kept in the URL, so Back and reload land on the same page.
 */
export function DevicesPage({ params }: { params: URLSearchParams }) {
  const filters = filtersOf(params);
  const trail = (params.get("trail") ?? "").split(",").filter(Boolean);
  const after = trail[trail.length - 1] ?? "";
  const key = params.toString();
  const [draft, setDraft] = useState<Filters>(filters);
  useEffect(() => setDraft(filtersOf(params)), [key]);
  const { data, error, setData } = useLoad(async () => {
    const answer = await get<Device[]>(`/v1/devices${query({ ...filters, after, limit: PAGE_SIZE })}`);
    return { devices: answer.data, next: answer.headers.get("x-next-cursor") };
  }, [key]);
  useFleetEvents(
    (event) => {
      if (!data?.devices.some((d) => d.id === event.deviceId)) return;
      void get<Device>(`/v1/devices/${enc(event.deviceId)}`).then(({ data: fresh }) =>
        setData(
          (current) => current && { ...current, devices: current.devices.map((d) => (d.id === fresh.id ? fresh : d)) },
        ),
      );
    },
    [data],
  );
  const go = (next: Filters, nextTrail: readonly string[] = []) =>
    navigate("/devices", { ...next, trail: nextTrail.join(",") });
  return (
    <>
      <h1>Devices</h1>
      <form
        class="filters"
        role="search"
        aria-label="Search devices"
        onSubmit={(e) => {
          e.preventDefault();
          go(draft);
        }}
      >
        <Field label="Device id or prefix">
          <input
            name="prefix"
            value={draft.prefix}
            placeholder="e.g. sim- or dev-42"
            pattern="[A-Za-z0-9._\-]{1,63}"
            onInput={(e) => setDraft({ ...draft, prefix: e.currentTarget.value.trim() })}
          />
        </Field>
        <Field label="Status">
          <select
            name="status"
            value={draft.status}
            onChange={(e) => setDraft({ ...draft, status: e.currentTarget.value })}
          >
            <option value="">any</option>
            <option value="active">active</option>
            <option value="revoked">revoked</option>
          </select>
        </Field>
        <Field label="Connection">
          <select
            name="online"
            value={draft.online}
            onChange={(e) => setDraft({ ...draft, online: e.currentTarget.value })}
          >
            <option value="">any</option>
            <option value="true">online</option>
            <option value="false">offline</option>
          </select>
        </Field>
        <Field label="Certificate expiring">
          <select
            name="expiring"
            value={draft.expiring}
            onChange={(e) => setDraft({ ...draft, expiring: e.currentTarget.value })}
          >
            <option value="">any time</option>
            <option value="7d">within 7 days</option>
            <option value="30d">within 30 days</option>
          </select>
        </Field>
        <button type="submit" class="primary">
          Search
        </button>
      </form>
      <ErrorBox error={error} />
      {data === null ? null : (
        <>
          <Table
            label="Devices"
            head={["Device", "Status", "Connection", "Role", "Profile", "Certificate expires", "Last seen"]}
          >
            {data.devices.length === 0 ? (
              <tr>
                <td colSpan={7} class="muted">
                  No devices match.
                </td>
              </tr>
            ) : (
              data.devices.map((d) => (
                <tr key={d.id} data-device={d.id}>
                  <td>
                    <a href={href(`/devices/${enc(d.id)}`)}>{d.id}</a>
                  </td>
                  <td>
                    <StatusBadge status={d.status} />
                  </td>
                  <td>
                    <OnlineBadge online={d.online} />
                  </td>
                  <td>{d.role}</td>
                  <td>{d.profile}</td>
                  <td title={when(d.certificateNotAfter)}>{relative(d.certificateNotAfter)}</td>
                  <td title={when(d.lastSeenAt)}>{d.online ? "now" : relative(d.lastSeenAt)}</td>
                </tr>
              ))
            )}
          </Table>
          <nav class="pager" aria-label="Pages of devices">
            <button type="button" disabled={trail.length === 0} onClick={() => go(filters, trail.slice(0, -1))}>
              ← Previous page
            </button>
            <span>
              Page {trail.length + 1} · {data.devices.length} shown
            </span>
            <button type="button" disabled={data.next === null} onClick={() => go(filters, [...trail, data.next!])}>
              Next page →
            </button>
          </nav>
        </>
      )}
    </>
  );
}
