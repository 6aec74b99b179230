import { useState } from "preact/hooks";
import { get, query, type AuditEntry } from "../api.js";
import { when } from "../format.js";
import { navigate } from "../router.js";
import { ErrorBox, Field, Table, useLoad } from "../ui.js";

const PAGE = 50;

interface Verification {
  readonly ok: boolean;
  readonly entries: number;
  readonly break: { readonly seq: number; readonly problem: string } | null;
}

function Verify() {
  const [result, setResult] = useState<Verification | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const verify = async () => {
    setBusy(true);
    setError(null);
    try {
      setResult((await get<Verification>("/v1/audit/verify")).data);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card" aria-labelledby="verify-h">
      <h2 id="verify-h">Verify the hash chain</h2>
      <p>Checks every entry's hash and link to the one before: an edited, inserted or deleted entry breaks it.</p>
      <button type="button" class="primary" disabled={busy} onClick={() => void verify()}>
        {busy ? "Verifying…" : "Verify audit log"}
      </button>
      <ErrorBox error={error} />
      <p role="status" data-testid="verify-result" class={result === null ? "" : result.ok ? "good" : "bad"}>
        {result === null
          ? ""
          : result.ok
            ? `Audit log intact: ${result.entries} entries, every hash link verified.`
            : `Audit log TAMPERED at entry ${result.break!.seq}: ${result.break!.problem}`}
      </p>
    </section>
  );
}

/** The audit log, 50 entries a page by sequence number, optionally about one subject; and its verification. */
export function AuditPage({ params }: { params: URLSearchParams }) {
  const after = Number(params.get("after") ?? 0);
  const subject = params.get("subject") ?? "";
  const [draft, setDraft] = useState(subject);
  const { data, error } = useLoad(
    async () => (await get<AuditEntry[]>(`/v1/audit${query({ after, limit: PAGE, subject })}`)).data,
    [after, subject],
  );
  const last = data?.[data.length - 1]?.seq;
  return (
    <>
      <h1>Audit log</h1>
      <Verify />
      <h2>Entries</h2>
      <form
        class="filters"
        role="search"
        aria-label="Filter audit entries"
        onSubmit={(e) => {
          e.preventDefault();
          navigate("/audit", { subject: draft });
        }}
      >
        <Field label="Subject (device, operator, token)">
          <input value={draft} onInput={(e) => setDraft(e.currentTarget.value.trim())} />
        </Field>
        <button type="submit" class="primary">
          Filter
        </button>
      </form>
      <ErrorBox error={error} />
      {data === null ? null : (
        <>
          <Table label="Audit entries" head={["#", "When", "Actor", "Action", "Subject", "Details"]}>
            {data.map((e) => (
              <tr key={e.seq}>
                <td>{e.seq}</td>
                <td>{when(e.at)}</td>
                <td>{e.actor}</td>
                <td>{e.action}</td>
                <td>{e.subject ?? "—"}</td>
                <td>
                  <code class="details">{JSON.stringify(e.details)}</code>
                </td>
              </tr>
            ))}
          </Table>
          <nav class="pager" aria-label="Pages of audit entries">
            <button type="button" disabled={after === 0} onClick={() => history.back()}>
              ← Previous page
            </button>
            <span>
              Entries after #{after} · {data.length} shown
            </span>
            <button
              type="button"
              disabled={data.length < PAGE || last === undefined}
              onClick={() => navigate("/audit", { subject, after: String(last) })}
            >
              Next page →
            </button>
          </nav>
        </>
      )}
    </>
  );
}
