import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CaKeys } from "../../src/adapters/ca/ca-keys.js";
import { caFiles } from "../../src/adapters/ca/ca-manifest.js";
import { pkiPaths } from "../../src/adapters/shared/key-files.js";
import { reloadPki } from "../../src/app/issuing-cas.js";
import { systemClock } from "../../src/ports.js";
import { rotateIssuingCa } from "../../provisioning/ca-rotation.js";
import { clusterUnavailable, startTestCluster, type TestCluster } from "../helpers/cluster.js";
import { connectDevice, enrollDevice, type EnrolledDevice } from "../helpers/devices.js";
import { eventually } from "../helpers/mqtt-kit.js";

const unavailable = await clusterUnavailable();
const suite = (name: string) => (unavailable === null ? name : `${name} (skipped: ${unavailable})`);

/** An issuing-CA rollover reloaded through one node reaches the others (one data dir, as on one host). */
describe.skipIf(unavailable !== null)(
  suite("cluster: PKI reloads follow the node that reloaded"),
  { timeout: 90_000 },
  () => {
    let cluster: TestCluster;
    const devices: EnrolledDevice[] = [];
    beforeAll(async () => {
      cluster = await startTestCluster(["node-a", "node-b"]);
    });
    afterAll(async () => {
      for (const device of devices) device.cleanup();
      await cluster?.close();
    });

    it("rotates the issuing CA on disk, reloads node A, and node B signs with the new CA too", async () => {
      const [a, b] = cluster.nodes as [NonNullable<(typeof cluster.nodes)[0]>, NonNullable<(typeof cluster.nodes)[0]>];
      const paths = pkiPaths(cluster.dataDir);
      const keys = new CaKeys(paths, undefined, {});
      try {
        await rotateIssuingCa({ paths, keys, hostnames: [] }, "file");
      } finally {
        await keys.close();
      }
      const { registry, revocation } = a.running;
      const announce = { bus: revocation.bus, nodeId: a.running.nodeId };
      const reloaded = await reloadPki({ registry, pki: a.running.pki, clock: systemClock, announce }, "operator:test");
      expect(reloaded.activeCa).toBe("ca-2");

      const peerReloaded = () => b.logs.lines.some((line) => line["msg"] === "PKI reloaded after a peer's reload");
      await eventually(async () => peerReloaded(), "node B reloads after node A");
      expect(b.running.pki.ring.active.id).toBe("ca-2");
      expect(b.running.crls.der("ca-2")).toBeDefined();
      const device = await enrollDevice(b, "pki-dev-1");
      devices.push(device);
      const ca2 = new X509Certificate(readFileSync(caFiles(paths, "ca-2").cert));
      expect(new X509Certificate(device.certPem).checkIssued(ca2)).toBe(true);
      // Node B's MQTT listener trusts the new CA's certificates (its TLS context was replaced too).
      const client = await connectDevice(b, device, { reconnectPeriod: 0 });
      client.end(true);
    });
  },
);
