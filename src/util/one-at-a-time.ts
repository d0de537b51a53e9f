/**
 * Runs `run` once no other call for the same key is in flight, and records it as the key's call
 * in flight until it settles. A call waiting behind a failed one still runs (the failure belongs
 * to its own caller). Used where two writes of one page must not overlap: they may land in either
 * order, the older bytes last.
 */
export async function oneAtATime<K>(
  inFlight: Map<K, Promise<void>>,
  key: K,
  run: () => Promise<void>,
): Promise<void> {
  for (let w = inFlight.get(key); w !== undefined; w = inFlight.get(key)) await w.catch(() => {});
  const done = run();
  inFlight.set(key, done);
  try {
    await done;
  } finally {
    if (inFlight.get(key) === done) inFlight.delete(key);
  }
}
