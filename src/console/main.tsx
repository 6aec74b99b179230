import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { get } from "./api.js";
import { useLiveState } from "./live.js";
import { currentRoute, type Route } from "./router.js";
import { AclPage } from "./pages/acl.js";
import { AuditPage } from "./pages/audit.js";
import { DevicePage } from "./pages/device.js";
import { DevicesPage } from "./pages/devices.js";
import { OperatorsPage } from "./pages/operators.js";
import { OverviewPage } from "./pages/overview.js";
import { TokensPage } from "./pages/tokens.js";

const NAV = [
  ["/", "Overview"],
  ["/devices", "Devices"],
  ["/tokens", "Tokens"],
  ["/audit", "Audit"],
  ["/operators", "Operators"],
  ["/acl", "ACL explain"],
] as const;

function Page({ route }: { route: Route }) {
  const device = /^\/devices\/(.+)$/.exec(route.path);
  if (device) return <DevicePage id={decodeURIComponent(device[1]!)} />;
  switch (route.path) {
    case "/":
      return <OverviewPage />;
    case "/devices":
      return <DevicesPage params={route.params} />;
    case "/tokens":
      return <TokensPage />;
    case "/audit":
      return <AuditPage params={route.params} />;
    case "/operators":
      return <OperatorsPage />;
    case "/acl":
      return <AclPage />;
    default:
      return <h1>Not found</h1>;
  }
}

function App() {
  const [route, setRoute] = useState(currentRoute);
  const [operator, setOperator] = useState<string | null>(null);
  const live = useLiveState();
  useEffect(() => {
    const onHash = () => setRoute(currentRoute());
    addEventListener("hashchange", onHash);
    get<{ operator: string }>("/v1/whoami").then(
      (answer) => setOperator(answer.data.operator),
      () => setOperator(null),
    );
    return () => removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => document.getElementById("main")?.focus({ preventScroll: true }), [route.path]);
  const section = route.path.startsWith("/devices") ? "/devices" : route.path;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          fleetgate
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([path, label]) => (
              <li key={path}>
                <a href={`#${path}`} aria-current={section === path ? "page" : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <p class="whoami">
          <span class={`live live-${live}`} role="status" aria-live="polite">
            {live === "live" ? "● live" : live === "connecting" ? "○ connecting" : "○ reconnecting"}
          </span>{" "}
          {operator ? <span>operator:{operator}</span> : null}
        </p>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

const root = document.getElementById("app")!;
root.replaceChildren(); // the static "Loading…" line
render(<App />, root);
