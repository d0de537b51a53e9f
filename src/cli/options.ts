/**
 * Where a command's options come from, strongest first:
 *
 * | source       | example                               | how                                  |
 * |--------------|---------------------------------------|--------------------------------------|
 * | the flag     | `--port 7000`                         | commander                            |
 * | environment  | `MNEME_PORT=7000`                     | `MNEME_` + the option in SNAKE_CASE  |
 * | config file  | `--config mneme.json` (or MNEME_CONFIG) with `{"port": 7000}` | JSON object, keys as the option (`httpPort` or `http-port`) |
 * | default      | 6389                                  | the option's default                 |
 *
 * One config file serves every command: a key that belongs to another command (say `workers`
 * for `mneme stats`) is ignored, a key no command knows is an error, so a typo does not pass
 * silently. Values may be strings, numbers, booleans (for switches) or arrays of strings (for
 * repeatable options); they go through the same parsing as the flag.
 */
import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError as CommanderArgumentError, type Option } from "commander";

/** Environment variable of an option: MNEME_ and the option's name in SNAKE_CASE. */
export function envName(option: Option): string {
  return `MNEME_${option
    .attributeName()
    .replace(/[A-Z]/g, (c) => `_${c}`)
    .toUpperCase()}`;
}

/**
 * Gives every option of `cmd` (but --help and --config) its environment variable; adds --config.
 * A negated switch takes the variable of what it turns off (`--no-http`: MNEME_HTTP=false), as
 * its key in the config file does (`"http": false`).
 */
export function withEnvironment(cmd: Command): Command {
  for (const o of cmd.options) {
    if (o.long === "--help" || o.long === "--config") continue;
    o.env(envName(o));
  }
  cmd.option("--config <file>", "read options from a JSON file (flags and MNEME_* variables win)");
  const config = cmd.options[cmd.options.length - 1];
  config.env("MNEME_CONFIG");
  return cmd;
}

/** Option names (attribute names) of every command of the program that takes a config file. */
function knownKeys(program: Command): Set<string> {
  const keys = new Set<string>();
  for (const c of program.commands) for (const o of c.options) keys.add(o.attributeName());
  return keys;
}

function camel(key: string): string {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Fills the options still at their default from the environment, then from the config file named
 * by --config / MNEME_CONFIG. Call from a preAction hook (after commander has read the flags).
 * The environment is read here rather than by commander because commander only watches variables
 * declared before an option is added, and the variables are derived from the options afterwards.
 */
export function applyEnvironmentAndConfig(program: Command, cmd: Command): void {
  for (const option of cmd.options) {
    const key = option.attributeName();
    const value = option.envVar === undefined ? undefined : process.env[option.envVar];
    if (value === undefined || !atDefault(cmd, key)) continue;
    cmd.setOptionValueWithSource(key, convert(`$${option.envVar}`, option, fromEnv(option, value)), "env");
  }
  const path = cmd.getOptionValue("config") as string | undefined;
  if (path === undefined) return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message;
    throw new CommanderArgumentError(`config file ${path}: ${why}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CommanderArgumentError(`config file ${path}: must hold a JSON object`);
  }
  const known = knownKeys(program);
  for (const [rawKey, value] of Object.entries(parsed)) {
    const key = camel(rawKey);
    if (!known.has(key) || key === "config") {
      throw new CommanderArgumentError(`config file ${path}: unknown option ${JSON.stringify(rawKey)}`);
    }
    const option = cmd.options.find((o) => o.attributeName() === key);
    if (option === undefined || !atDefault(cmd, key)) continue;
    cmd.setOptionValueWithSource(
      key,
      convert(`config file ${path}: ${JSON.stringify(rawKey)}`, option, value),
      "config",
    );
  }
}

function atDefault(cmd: Command, key: string): boolean {
  const source = cmd.getOptionValueSource(key);
  return source === undefined || source === "default" || source === "implied";
}

/** A variable's text as the option takes it: switches read 1/true/yes as on, 0/false/no/empty as off. */
function fromEnv(option: Option, text: string): unknown {
  if (option.required || option.optional) return text;
  if (/^(1|true|yes|on)$/i.test(text)) return true;
  if (/^(0|false|no|off|)$/i.test(text)) return false;
  return text;
}

function convert(where: string, option: Option, value: unknown): unknown {
  const bad = (want: string): never => {
    throw new CommanderArgumentError(`${where} must be ${want}`);
  };
  if (!option.required && !option.optional) return typeof value === "boolean" ? value : bad("true or false");
  const repeatable = Array.isArray(option.defaultValue);
  if (Array.isArray(value) && !repeatable) bad("a single value");
  const texts = Array.isArray(value) ? value : [value];
  // A repeatable option accumulates through its parser, as repeated flags do.
  let acc: unknown = repeatable ? [] : option.defaultValue;
  for (const v of texts) {
    if (typeof v !== "string" && typeof v !== "number") bad("a string or a number");
    acc = option.parseArg ? option.parseArg(String(v), acc) : String(v);
  }
  return acc;
}
