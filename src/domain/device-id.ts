/**
 * Device ids are certificate CNs and MQTT topic levels at once, so they must be harmless in both:
 * no `/` (a topic level separator), no `+`/`#` (wildcards, MQTT 3.1.1 §4.7.1), no `$` (reserved
 * topic prefix, [MQTT-4.7.2-1]), no NUL ([MQTT-4.7.3-2]) and no spaces or other characters that
 * make logs and shells ambiguous.
 */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const DEVICE_ID_MAX_LENGTH = 64;

export function isValidDeviceId(candidate: unknown): candidate is string {
  return typeof candidate === "string" && DEVICE_ID_PATTERN.test(candidate);
}

/** Why a candidate id is refused, in words for the log; null when it is valid. */
export function deviceIdProblem(candidate: unknown): string | null {
  if (typeof candidate !== "string" || candidate.length === 0) return "empty";
  if (candidate.length > DEVICE_ID_MAX_LENGTH) return `longer than ${DEVICE_ID_MAX_LENGTH} characters`;
  const bad = [...candidate].find((ch) => !/[A-Za-z0-9._-]/.test(ch));
  if (bad !== undefined) return `contains ${JSON.stringify(bad)}`;
  return null;
}

/** A group token lets a factory batch enroll any id that starts with its prefix. */
export function isValidDevicePrefix(candidate: unknown): candidate is string {
  return typeof candidate === "string" && /^[A-Za-z0-9._-]{1,63}$/.test(candidate);
}
