/**
 * Topic permissions. A client's rights follow from two facts the broker trusts: the role (from
 * the certificate profile) and the certificate CN. Rule templates name the CN as `{cn}`, so a
 * device can only ever address its own subtree; the service role uses `+` to see the whole fleet.
 */
import { compileRules, matchingRule, type CompiledRules } from "./acl-rules.js";
import { filterCoveredBy, validateTopicFilter, validateTopicName } from "./topic.js";

export type Action = "publish" | "subscribe";

export interface RoleTemplates {
  publish: string[];
  subscribe: string[];
}

/** Role name → rule templates. `{cn}` in a template is replaced by the client's certificate CN. */
export type AclConfig = Record<string, RoleTemplates>;

export interface AclVerdict {
  allowed: boolean;
  /** The concrete rule (after `{cn}` substitution) that allowed the request; null when denied. */
  rule: string | null;
  reason: string;
}

const CN_PLACEHOLDER = "{cn}";

export const DEFAULT_ACL: AclConfig = deepFreeze({
  device: {
    publish: ["devices/{cn}/telemetry", "devices/{cn}/telemetry/#", "devices/{cn}/events/#", "devices/{cn}/state"],
    subscribe: ["devices/{cn}/commands/#", "devices/{cn}/config"],
  },
  service: {
    publish: ["devices/+/commands/#", "devices/+/config"],
    subscribe: ["devices/+/telemetry/#", "devices/+/events/#", "devices/+/state"],
  },
});

function deepFreeze(config: AclConfig): AclConfig {
  for (const templates of Object.values(config)) {
    Object.freeze(templates.publish);
    Object.freeze(templates.subscribe);
    Object.freeze(templates);
  }
  return Object.freeze(config);
}

/**
 * Characters that would turn a CN into more than one literal level: a separator, a wildcard, the
 * '$' reserved prefix, or NUL. The CN is validated upstream; this is the last line of defence
 * because a CN of "+" would silently hand a device every other device's topics.
 */
const CN_FORBIDDEN = ["/", "+", "#", "\u0000", "$"] as const;

function assertSafeCn(cn: string): void {
  if (cn.length === 0) throw new Error("certificate CN is empty; refusing to build topic permissions");
  const bad = CN_FORBIDDEN.find((ch) => cn.includes(ch));
  if (bad !== undefined) {
    throw new Error(
      `certificate CN ${JSON.stringify(cn)} contains ${JSON.stringify(bad)}; refusing to build topic permissions`,
    );
  }
}

/** Substitutes `{cn}` and rejects a template that is not a valid filter afterwards. */
function instantiate(template: string, cn: string): string {
  // split/join rather than String.replace: replacement strings interpret "$&", "$'" and friends.
  const rule = template.split(CN_PLACEHOLDER).join(cn);
  const problem = validateTopicFilter(rule);
  if (problem !== null)
    throw new Error(`ACL template ${JSON.stringify(template)} is not a valid topic filter: ${problem}`);
  return rule;
}

/** A CN no real device id can collide with, to try a template out before any client connects. */
const PROBE_CN = "probe-device";

/**
 * Why a rule template is unusable, or null: judged at start-up (configuration schema) instead of per
 * connection, where it used to surface as CONNACK 3 for every client of the role. A template reaching
 * '$' topics is refused: those are the broker's own ($SYS, internal), never a role's.
 */
export function templateProblem(template: string): string | null {
  const rule = template.split(CN_PLACEHOLDER).join(PROBE_CN);
  const problem = validateTopicFilter(rule);
  if (problem !== null) return `not a valid topic filter (${problem})`;
  if (rule.startsWith("$")) return "'$' topics are reserved for the broker";
  return null;
}

/** The concrete permissions of one connected client. Immutable; deny unless a rule says otherwise. */
export class Acl {
  readonly publishRules: readonly string[];
  readonly subscribeRules: readonly string[];
  /** publishRules / subscribeRules split into levels, index for index. */
  private readonly publishLevels: CompiledRules;
  private readonly subscribeLevels: CompiledRules;

  constructor(
    readonly role: string,
    readonly cn: string,
    publishRules: readonly string[],
    subscribeRules: readonly string[],
    /** Set only for a role the config does not know, so verdicts can say why nothing is allowed. */
    readonly unknownRole = false,
    /** The templates the rules were instantiated from, index for index (only to share their strings). */
    templates: { readonly publish?: readonly string[]; readonly subscribe?: readonly string[] } = {},
  ) {
    this.publishRules = Object.freeze([...publishRules]);
    this.subscribeRules = Object.freeze([...subscribeRules]);
    this.publishLevels = compileRules(this.publishRules, templates.publish, cn);
    this.subscribeLevels = compileRules(this.subscribeRules, templates.subscribe, cn);
    Object.freeze(this);
  }

  /**
   * `publish`: `topicOrFilter` is a topic name, allowed iff one publish rule matches it.
   * `subscribe`: it is a filter, allowed iff one subscribe rule covers every topic it can match;
   * merely overlapping a rule is not enough, or "devices/#" would overlap a device's own subtree.
   * '$' topics need no extra case: only a rule literally starting with '$' can match or cover one.
   */
  check(action: Action, topicOrFilter: string): AclVerdict {
    if (action === "publish") {
      const problem = validateTopicName(topicOrFilter);
      if (problem !== null) return deny(`invalid topic name: ${problem}`);
      return this.verdict(this.publishRules, matchingRule(this.publishLevels, topicOrFilter), "publish");
    }
    if (action === "subscribe") {
      const problem = validateTopicFilter(topicOrFilter);
      if (problem !== null) return deny(`invalid topic filter: ${problem}`);
      const index = this.subscribeRules.findIndex((rule) => filterCoveredBy(topicOrFilter, rule));
      return this.verdict(this.subscribeRules, index, "subscribe");
    }
    // Unreachable for typed callers; an action string from elsewhere must still fail closed.
    return deny(`unknown action ${JSON.stringify(action)}`);
  }

  /**
   * check("publish", topic).allowed without building the verdict: the broker asks this on every
   * PUBLISH, and asks check() only to explain a refusal.
   */
  mayPublish(topic: string): boolean {
    return validateTopicName(topic) === null && matchingRule(this.publishLevels, topic) >= 0;
  }

  /**
   * Re-check at delivery time: may a message published on `topic` be forwarded to this client?
   * Deliberately a boolean (not a verdict object) so `if (acl.canReceive(t))` cannot be truthy by
   * accident.
   */
  canReceive(topic: string): boolean {
    return validateTopicName(topic) === null && matchingRule(this.subscribeLevels, topic) >= 0;
  }

  private verdict(rules: readonly string[], index: number, action: Action): AclVerdict {
    const rule = rules[index];
    if (rule !== undefined) return { allowed: true, rule, reason: `allowed by rule ${rule}` };
    if (this.unknownRole) return deny(`unknown role ${JSON.stringify(this.role)}: nothing is allowed`);
    return deny(action === "publish" ? "no publish rule matches this topic" : "no subscribe rule covers this filter");
  }
}

function deny(reason: string): AclVerdict {
  return { allowed: false, rule: null, reason };
}

/**
 * Builds a client's permissions. A bad CN throws (it must never be widened into a wildcard); a bad
 * template throws (configuration error, better refused at startup than discovered per message).
 * An unknown role is not an error: the client simply may do nothing.
 */
export function deriveAcl(config: AclConfig, role: string, cn: string): Acl {
  assertSafeCn(cn);
  // Object.hasOwn: a role called "constructor" or "__proto__" must not find Object.prototype members.
  if (!Object.hasOwn(config, role)) return new Acl(role, cn, [], [], true);
  const templates = config[role] as RoleTemplates;
  const publish = templates.publish.map((template) => instantiate(template, cn));
  const subscribe = templates.subscribe.map((template) => instantiate(template, cn));
  return new Acl(role, cn, publish, subscribe, false, templates);
}

/**
 * The filters a device alone may publish under: every publish template of any role that names the
 * CN, instantiated with this id (a CN is one device across all roles). A revoked device's retained
 * messages are cleared from these.
 */
export function deviceNamespaces(config: AclConfig, cn: string): string[] {
  assertSafeCn(cn);
  const templates = Object.values(config).flatMap((role) => role.publish.filter((t) => t.includes(CN_PLACEHOLDER)));
  return [...new Set(templates.map((template) => instantiate(template, cn)))];
}

/**
 * One line for logs and the CLI, e.g.
 * `ALLOW publish devices/dev-1/telemetry (role device, rule devices/dev-1/telemetry)` or
 * `DENY subscribe # (role device): no subscribe rule covers this filter`.
 * A refused CN or broken template is reported as a DENY line rather than thrown, since the point
 * of this function is to explain.
 */
export function explainAcl(config: AclConfig, role: string, cn: string, action: Action, topic: string): string {
  let verdict: AclVerdict;
  try {
    verdict = deriveAcl(config, role, cn).check(action, topic);
  } catch (error) {
    verdict = deny(error instanceof Error ? error.message : String(error));
  }
  const shown = printable(topic);
  if (verdict.allowed) return `ALLOW ${action} ${shown} (role ${printable(role)}, rule ${verdict.rule})`;
  return `DENY ${action} ${shown} (role ${printable(role)}): ${verdict.reason}`;
}

/** Quotes a value that is empty or holds whitespace/control characters, so it stays one log line. */
function printable(value: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return value === "" || /[\u0000-\u0020\u007f-\u009f]/u.test(value) ? JSON.stringify(value) : value;
}
