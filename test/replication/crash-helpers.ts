import { readdirSync } from "node:fs";
import { type ServerProcess, spawnServer } from "../service/helpers.js";
import type { CrashModel } from "./crash-driver.js";

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function kill9(srv: ServerProcess): Promise<void> {
  if (srv.child.exitCode !== null || srv.child.signalCode !== null) return;
  const exited = new Promise((r) => srv.child.once("exit", r));
  srv.child.kill("SIGKILL");
  await exited;
}

/** Polls until `cond()` holds (or `ms` passed); returns whether it held. */
export async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(5);
  }
  return false;
}

export interface RoundResult {
  checked: number;
  bytes: number;
}

/**
 * One crash round: start the server on the same replication target, check what the last crash
 * left against the contract, drive load, and kill -9 it when `killWhen` resolves.
 */
export async function crashRound(
  model: CrashModel,
  args: string[],
  seed: number,
  always: boolean,
  killWhen: () => Promise<unknown>,
  env: Record<string, string> = {},
): Promise<RoundResult> {
  for (const [k, v] of Object.entries(env)) process.env[k] = v;
  let srv: ServerProcess;
  try {
    srv = await spawnServer(args);
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
  }
  try {
    const res = await model.verify(srv.port);
    const stop = { killed: false };
    const driving = model.drive(srv.port, seed, always, stop);
    await Promise.race([killWhen(), driving]);
    stop.killed = true;
    await kill9(srv);
    await driving;
    return res;
  } finally {
    await kill9(srv);
  }
}

export function files(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
