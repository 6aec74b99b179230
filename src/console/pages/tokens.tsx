import { useState } from "preact/hooks";
import { enc, get, post, type Profile, type Token } from "../api.js";
import { ConfirmDialog } from "../dialog.js";
import { relative, when } from "../format.js";
import { ErrorBox, Field, StatusBadge, Table, useLoad } from "../ui.js";

interface Created {
  readonly token: string;
  readonly id: string;
  readonly deviceId: string | null;
  readonly prefix: string | null;
}

function Secret({ created, onDone }: { created: Created; onDone: () => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  const copy = () =>
    navigator.clipboard.writeText(created.token).then(
      () => setCopied("Copied to the clipboard."),
      () => setCopied("The browser refused the clipboard: select the token and copy it by hand."),
    );
  return (
    <section class="secret card" aria-labelledby="secret-h">
      <h2 id="secret-h">Token {created.id} created</h2>
      <p>
        For {created.deviceId ? `device ${created.deviceId}` : `devices named ${created.prefix}…`}. This is the only
        time the secret is shown: fleetgate keeps only its hash.
      </p>
      <div class="secret-row">
        <label class="visually-hidden" for="token-secret">
          Token secret
        </label>
        <input id="token-secret" readOnly value={created.token} onFocus={(e) => e.currentTarget.select()} />
        <button type="button" class="primary" onClick={() => void copy()}>
          Copy
        </button>
      </div>
      <p role="status">{copied ?? ""}</p>
      <button type="button" onClick={onDone}>
        Done
      </button>
    </section>
  );
}

function CreateForm({ profiles, onCreated }: { profiles: readonly Profile[]; onCreated: (c: Created) => void }) {
  const [kind, setKind] = useState<"device" | "group">("device");
  const [target, setTarget] = useState("");
  const [profile, setProfile] = useState("device");
  const [ttl, setTtl] = useState("24h");
  const [uses, setUses] = useState("100");
  const [error, setError] = useState<string | null>(null);
  const submit = async () => {
    setError(null);
    const body = {
      ...(kind === "device" ? { deviceId: target } : { prefix: target, uses: Number(uses) }),
      profile,
      ttl,
    };
    try {
      onCreated(await post<Created>("/v1/tokens", body));
      setTarget("");
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form
      class="card form-grid"
      aria-labelledby="create-h"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2 id="create-h">Create a bootstrap token</h2>
      <fieldset class="inline">
        <legend>For</legend>
        <label>
          <input type="radio" name="kind" checked={kind === "device"} onChange={() => setKind("device")} /> one device
        </label>
        <label>
          <input type="radio" name="kind" checked={kind === "group"} onChange={() => setKind("group")} /> a group (id
          prefix)
        </label>
      </fieldset>
      <Field label={kind === "device" ? "Device id" : "Id prefix"}>
        <input
          required
          value={target}
          pattern="[A-Za-z0-9._\-]{1,63}"
          onInput={(e) => setTarget(e.currentTarget.value.trim())}
        />
      </Field>
      <Field label="Profile">
        <select value={profile} onChange={(e) => setProfile(e.currentTarget.value)}>
          {profiles.map((p) => (
            <option key={p.name} value={p.name}>
              {p.name} (role {p.role})
            </option>
          ))}
        </select>
      </Field>
      <Field label="Valid for" hint="e.g. 30m, 24h, 7d">
        <input required value={ttl} onInput={(e) => setTtl(e.currentTarget.value.trim())} />
      </Field>
      {kind === "group" ? (
        <Field label="Enrollments">
          <input type="number" min={1} required value={uses} onInput={(e) => setUses(e.currentTarget.value)} />
        </Field>
      ) : null}
      <ErrorBox error={error} />
      <div class="actions">
        <button type="submit" class="primary">
          Create token
        </button>
      </div>
    </form>
  );
}

/** Bootstrap tokens: create (the secret shown once, with a copy button), list (never the secret), revoke. */
export function TokensPage() {
  const tokens = useLoad(async () => (await get<Token[]>("/v1/tokens")).data, []);
  const profiles = useLoad(async () => (await get<Profile[]>("/v1/profiles")).data, []);
  const [created, setCreated] = useState<Created | null>(null);
  const [revoking, setRevoking] = useState<Token | null>(null);
  const [error, setError] = useState<string | null>(null);
  const revoke = async (token: Token) => {
    try {
      await post(`/v1/tokens/${enc(token.id)}/revoke`);
      setRevoking(null);
      tokens.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const list = [...(tokens.data ?? [])].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return (
    <>
      <h1>Tokens</h1>
      {created ? (
        <Secret created={created} onDone={() => setCreated(null)} />
      ) : (
        <CreateForm
          profiles={profiles.data ?? []}
          onCreated={(c) => {
            setCreated(c);
            tokens.reload();
          }}
        />
      )}
      <h2>All tokens</h2>
      <ErrorBox error={tokens.error} />
      <Table label="Tokens" head={["Id", "For", "Profile", "Uses left", "Expires", "State", ""]}>
        {list.map((t) => (
          <tr key={t.id}>
            <td>
              <code>{t.id}</code>
            </td>
            <td>{t.deviceId ?? `${t.prefix ?? ""}…`}</td>
            <td>{t.profile}</td>
            <td>
              {t.usesLeft} / {t.usesTotal}
            </td>
            <td title={when(t.expiresAt)}>{relative(t.expiresAt)}</td>
            <td>
              <StatusBadge status={t.state} />
            </td>
            <td>
              {t.state === "active" ? (
                <button type="button" class="small" aria-label={`Revoke token ${t.id}`} onClick={() => setRevoking(t)}>
                  Revoke
                </button>
              ) : null}
            </td>
          </tr>
        ))}
      </Table>
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke token ${revoking?.id ?? ""}?`}
        confirmLabel="Revoke token"
        danger
        onCancel={() => (setRevoking(null), setError(null))}
        onConfirm={() => revoking && void revoke(revoking)}
      >
        <p>Devices that have not enrolled with it yet can no longer use it. Enrolled devices are not affected.</p>
        <ErrorBox error={error} />
      </ConfirmDialog>
    </>
  );
}
