import { useState } from "preact/hooks";
import { get, query } from "../api.js";
import { ErrorBox, Field } from "../ui.js";

/** `GET /v1/acl/explain`: may a device publish here or subscribe to this filter, and which rule decides. */
export function AclPage() {
  const [device, setDevice] = useState("");
  const [action, setAction] = useState<"publish" | "subscribe">("publish");
  const [topic, setTopic] = useState("");
  const [role, setRole] = useState("");
  const [result, setResult] = useState<{ allowed: boolean; explanation: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const explain = async () => {
    setError(null);
    setResult(null);
    try {
      setResult(
        (
          await get<{ allowed: boolean; explanation: string }>(
            `/v1/acl/explain${query({ device, action, topic, role })}`,
          )
        ).data,
      );
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <>
      <h1>ACL explain</h1>
      <form
        class="card form-grid"
        aria-label="Explain a permission"
        onSubmit={(e) => {
          e.preventDefault();
          void explain();
        }}
      >
        <Field label="Device id">
          <input required value={device} onInput={(e) => setDevice(e.currentTarget.value.trim())} />
        </Field>
        <Field label="Action">
          <select value={action} onChange={(e) => setAction(e.currentTarget.value as "publish" | "subscribe")}>
            <option value="publish">publish</option>
            <option value="subscribe">subscribe</option>
          </select>
        </Field>
        <Field label="Topic or filter">
          <input
            required
            value={topic}
            placeholder="devices/dev-1/telemetry"
            onInput={(e) => setTopic(e.currentTarget.value)}
          />
        </Field>
        <Field label="Role (optional)" hint="default: the device's enrolled role">
          <input value={role} onInput={(e) => setRole(e.currentTarget.value.trim())} />
        </Field>
        <div class="actions">
          <button type="submit" class="primary">
            Explain
          </button>
        </div>
      </form>
      <ErrorBox error={error} />
      <p
        role="status"
        class={result === null ? "" : result.allowed ? "verdict good" : "verdict bad"}
        data-testid="acl-result"
      >
        {result?.explanation ?? ""}
      </p>
    </>
  );
}
