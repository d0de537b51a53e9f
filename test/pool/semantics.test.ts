/** The pool's semantics on a single-segment pool (semantics.ts). */
import { semanticsSuite } from "./semantics.js";

semanticsSuite("single segment", 8 << 20);
