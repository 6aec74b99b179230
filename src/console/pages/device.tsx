import { useState } from "preact/hooks";
import { DEVICE_REVOCATION_REASONS } from "../../domain/revocation-reason.js";
import { enc, get, post, query, type AuditEntry, type DeviceDetail } from "../api.js";
import { ConfirmDialog } from "../dialog.js";
import { relative, when } from "../format.js";
import { useFleetEvents } from "../live.js";
import { href } from "../router.js";
import { ErrorBox, Field, Notice, OnlineBadge, StatusBadge, Table, useLoad } from "../ui.js";

type Dialog = "revoke" | "reset" | null;

/** One device: facts, certificates, live sessions, its audit trail; revoke and reset. */
export function DevicePage({ id }: { id: string }) {
  const device = useLoad(async () => (await get<DeviceDetail>(`/v1/devices/${enc(id)}`)).data, [id]);
  const audit = useLoad(
    async () => (await get<AuditEntry[]>(`/v1/audit${query({ subject: id, limit: 200 })}`)).data,
    [id],
  );
  const [dialog, setDialog] = useState<Dialog>(null);
  const [reason, setReason] = useState<string>("keyCompromise");
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  useFleetEvents(
    (event) => {
      if (event.deviceId !== id) return;
      device.reload();
      audit.reload();
    },
    [id, device.reload, audit.reload],
  );
  const act = async (path: string, body: unknown, done: (result: Record<string, unknown>) => string) => {
    setBusy(true);
    setActionError(null);
    try {
      setNotice(done(await post<Record<string, unknown>>(path, body)));
      setDialog(null);
      device.reload();
      audit.reload();
    } catch (error) {
      setActionError((error as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const d = device.data;
  return (
    <>
      <p class="crumbs">
        <a href={href("/devices")}>Devices</a> /
      </p>
      <h1>
        Device <code>{id}</code>
      </h1>
      <ErrorBox error={device.error} />
      {notice ? <Notice>{notice}</Notice> : null}
      {d === null ? null : (
        <>
          <div class="device-head">
            <dl class="facts">
              <dt>Status</dt>
              <dd data-testid="device-status">
                <StatusBadge status={d.status} />
                {d.revocationReason ? ` (${d.revocationReason}, ${when(d.revokedAt)})` : ""}
              </dd>
              <dt>Connection</dt>
              <dd data-testid="device-online">
                <OnlineBadge online={d.online} />
              </dd>
              <dt>Role</dt>
              <dd>{d.role}</dd>
              <dt>Profile</dt>
              <dd>{d.profile}</dd>
              <dt>Created</dt>
              <dd>{when(d.createdAt)}</dd>
              <dt>Last seen</dt>
              <dd>{d.online ? "now" : when(d.lastSeenAt)}</dd>
            </dl>
            <div class="actions">
              {d.status === "active" ? (
                <button type="button" class="danger" onClick={() => setDialog("revoke")}>
                  Revoke…
                </button>
              ) : (
                <button type="button" onClick={() => setDialog("reset")}>
                  Reset…
                </button>
              )}
            </div>
          </div>
          <h2>Certificates</h2>
          <Table label="Certificates" head={["Serial", "Status", "Not before", "Not after", "Revocation reason"]}>
            {d.certificates.map((c) => (
              <tr key={c.serial}>
                <td>
                  <code>{c.serial}</code>
                </td>
                <td>
                  <StatusBadge status={c.status} />
                </td>
                <td>{when(c.notBefore)}</td>
                <td title={relative(c.notAfter)}>{when(c.notAfter)}</td>
                <td>{c.revocationReason ?? "—"}</td>
              </tr>
            ))}
          </Table>
          <h2>Live sessions</h2>
          {d.sessions.length === 0 ? (
            <p class="muted">Not connected.</p>
          ) : (
            <Table label="Live sessions" head={["Address", "Connected since", "Node", "Certificate"]}>
              {d.sessions.map((s) => (
                <tr key={`${s.node}-${s.serial}-${s.connectedAt}`}>
                  <td>{s.address ?? "—"}</td>
                  <td title={when(s.connectedAt)}>{relative(s.connectedAt)}</td>
                  <td>{s.node}</td>
                  <td>
                    <code>{s.serial}</code>
                  </td>
                </tr>
              ))}
            </Table>
          )}
        </>
      )}
      <h2>Audit entries</h2>
      <ErrorBox error={audit.error} />
      {audit.data === null ? null : audit.data.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <Table label="Audit entries of this device" head={["#", "When", "Actor", "Action", "Details"]}>
          {audit.data.map((e) => (
            <tr key={e.seq}>
              <td>{e.seq}</td>
              <td>{when(e.at)}</td>
              <td>{e.actor}</td>
              <td>{e.action}</td>
              <td>
                <code class="details">{JSON.stringify(e.details)}</code>
              </td>
            </tr>
          ))}
        </Table>
      )}
      <ConfirmDialog
        open={dialog === "revoke"}
        title={`Revoke ${id}?`}
        confirmLabel="Revoke device"
        danger
        busy={busy}
        onCancel={() => setDialog(null)}
        onConfirm={() =>
          void act(
            `/v1/devices/${enc(id)}/revoke`,
            { reason },
            (r) => `Revoked ${id}: ${String(r["sessionsClosed"])} live session(s) closed.`,
          )
        }
      >
        <p>
          Its certificates stop working at once and its live sessions are closed. Only a reset lets it enroll again.
        </p>
        <Field label="Reason (RFC 5280)">
          <select value={reason} onChange={(e) => setReason(e.currentTarget.value)}>
            {DEVICE_REVOCATION_REASONS.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </Field>
        <ErrorBox error={actionError} />
      </ConfirmDialog>
      <ConfirmDialog
        open={dialog === "reset"}
        title={`Reset ${id}?`}
        confirmLabel="Reset device"
        busy={busy}
        onCancel={() => setDialog(null)}
        onConfirm={() =>
          void act(`/v1/devices/${enc(id)}/reset`, {}, () => `Reset ${id}: it may enroll again with a new token.`)
        }
      >
        <p>It becomes active again and may enroll with a new token; its old certificates stay revoked.</p>
        <ErrorBox error={actionError} />
      </ConfirmDialog>
    </>
  );
}
