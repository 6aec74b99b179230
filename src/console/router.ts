/** Hash routes (`#/devices?prefix=sim-`): the server serves one page, and links, reloads and Back still work. */
export interface Route {
  readonly path: string;
  readonly params: URLSearchParams;
}

export function currentRoute(): Route {
  const [path = "/", search = ""] = (location.hash.replace(/^#/, "") || "/").split("?");
  return { path, params: new URLSearchParams(search) };
}

export function href(path: string, params: Record<string, string> = {}): string {
  const search = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "")).toString();
  return `#${path}${search ? `?${search}` : ""}`;
}

export function navigate(path: string, params: Record<string, string> = {}): void {
  location.hash = href(path, params);
}
