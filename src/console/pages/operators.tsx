import { useState } from "preact/hooks";
import { enc, get, post, request, type Operator } from "../api.js";
import { ConfirmDialog } from "../dialog.js";
import { when } from "../format.js";
import { ErrorBox, Field, Notice, StatusBadge, Table, useLoad } from "../ui.js";

/** Hands the browser the bytes as a file download (nothing leaves the page but to the disk). */
function download(bytes: Blob, name: string): void {
  const url = URL.createObjectURL(bytes);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function AddOperator({ onAdded }: { onAdded: (name: string) => void }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    if (password !== again) return setError("The two passwords differ.");
    setBusy(true);
    setError(null);
    try {
      const response = await request("POST", "/v1/operators/p12", { name, password });
      download(await response.blob(), `${name}.p12`);
      setPassword("");
      setAgain("");
      onAdded(name);
      setName("");
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      class="card form-grid"
      aria-labelledby="add-h"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2 id="add-h">Add an operator</h2>
      <p class="wide">
        The server makes a key and an operator certificate and hands both to you as a password-protected{" "}
        <code>.p12</code> file to import into a browser. It keeps neither the key nor the password.
      </p>
      <Field label="Name">
        <input
          required
          value={name}
          pattern="[A-Za-z0-9._\-]{1,64}"
          autoComplete="off"
          onInput={(e) => setName(e.currentTarget.value.trim())}
        />
      </Field>
      <Field label="Password for the .p12" hint="at least 8 characters">
        <input
          type="password"
          required
          minLength={8}
          autoComplete="new-password"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
      </Field>
      <Field label="Password again">
        <input
          type="password"
          required
          minLength={8}
          autoComplete="new-password"
          value={again}
          onInput={(e) => setAgain(e.currentTarget.value)}
        />
      </Field>
      <ErrorBox error={error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Issuing…" : "Add operator and download .p12"}
        </button>
      </div>
    </form>
  );
}

/** Operators: list, add (a .p12 download), revoke (never the last one: the server says so). */
export function OperatorsPage() {
  const operators = useLoad(async () => (await get<Operator[]>("/v1/operators")).data, []);
  const [revoking, setRevoking] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const revoke = async (name: string) => {
    setError(null);
    try {
      await post(`/v1/operators/${enc(name)}/revoke`);
      setRevoking(null);
      setNotice(`Operator ${name} revoked: their certificate is refused from now on.`);
      operators.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <>
      <h1>Operators</h1>
      {notice ? <Notice>{notice}</Notice> : null}
      <AddOperator
        onAdded={(name) => {
          setNotice(`Operator ${name} added; ${name}.p12 downloaded.`);
          operators.reload();
        }}
      />
      <h2>All operators</h2>
      <ErrorBox error={operators.error} />
      <Table label="Operators" head={["Name", "Serial", "Status", "Created", "Valid until", ""]}>
        {(operators.data ?? []).map((o) => (
          <tr key={o.serial}>
            <td>{o.name}</td>
            <td>
              <code>{o.serial}</code>
            </td>
            <td>
              <StatusBadge status={o.status} />
            </td>
            <td>{when(o.createdAt)}</td>
            <td>{when(o.notAfter)}</td>
            <td>
              {o.status === "active" ? (
                <button
                  type="button"
                  class="small"
                  aria-label={`Revoke operator ${o.name}`}
                  onClick={() => setRevoking(o.name)}
                >
                  Revoke
                </button>
              ) : null}
            </td>
          </tr>
        ))}
      </Table>
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke operator ${revoking ?? ""}?`}
        confirmLabel="Revoke operator"
        danger
        onCancel={() => (setRevoking(null), setError(null))}
        onConfirm={() => revoking && void revoke(revoking)}
      >
        <p>Every certificate of this operator is refused from now on. The last active operator cannot be revoked.</p>
        <ErrorBox error={error} />
      </ConfirmDialog>
    </>
  );
}
