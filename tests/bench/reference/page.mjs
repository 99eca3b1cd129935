// The reference the failover benchmark runs beside Conclave, in the same harness and the same
// run: npm `broadcast-channel`'s leader election (the most used cross-tab election library),
// with its defaults. With Web Locks it leads when granted its lock; with `?election=lease` the
// page hides Web Locks, and the library falls back to its message-based election.
// Bundled by esbuild when the benchmark starts; never part of the app.
import { BroadcastChannel, createLeaderElection } from "broadcast-channel";

if (new URLSearchParams(location.search).get("election") === "lease") {
  Object.defineProperty(navigator, "locks", { value: undefined });
}

const channel = new BroadcastChannel("bench-reference");
const elector = createLeaderElection(channel);
elector.awaitLeadership().then(() => performance.mark("reference:became-leader"));

/** What the benchmark reads: whether this tab leads, and whether it knows a leader. */
window.__reference = {
  lockName: `pubkey-bc||${channel.method.type}||${channel.name}`,
  view: async () => ({ leads: elector.isLeader, knowsLeader: await elector.hasLeader() }),
};
