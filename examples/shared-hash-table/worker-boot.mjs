// The Worker entry for worker.ts under Node 20 without a build step. A worker thread cannot
// start on a .ts file through `--import tsx` alone (the entry's module format is decided before
// the loader hooks apply there), so this plain module registers tsx's loader in the worker and
// then imports the TypeScript. With a compiled worker.js, start the Worker on that file instead.
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
