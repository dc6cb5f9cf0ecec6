/**
 * The command line's option tables: what each command accepts, parsed by Node's parseArgs, and the help text of
 * each option beside it, from which `xft help` is written. An option cannot be accepted without being shown.
 */
import { parseArgs, type ParseArgsConfig } from "util";

export interface OptionSpec {
  type: "string" | "boolean";
  default?: string | boolean;
  /** The usage: the value's form where it takes one, then what it does (a default in parentheses). */
  help: string;
  /** An option one xft process passes another (a bench child's config): accepted, not shown. */
  internal?: boolean;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** One command (or subcommand) of `xft`: its usage line, its options, and what it does with them. */
export interface Command {
  /** What follows the command's name in its usage: positionals such as "NAME|PATH", else "". */
  positionals?: string;
  summary: string;
  options: OptionTable;
  run(args: string[]): Promise<number> | number;
}

type OptionValue<O extends OptionSpec> = O["type"] extends "boolean" ? boolean : string;

/** The parsed values of a table: each option's value, possibly undefined unless it has a default. */
export type OptionValues<T extends OptionTable> = {
  -readonly [K in keyof T]: T[K] extends { default: string | boolean } ? OptionValue<T[K]> : OptionValue<T[K]> | undefined;
};

/** parseArgs over a table (strict: an unknown option is an error); the values typed by the table. */
export function parseOptions<T extends OptionTable>(
  args: string[],
  options: T,
  allowPositionals = false,
): { values: OptionValues<T>; positionals: string[] } {
  const parsed = parseArgs({ args, options: options as NonNullable<ParseArgsConfig["options"]>, allowPositionals, strict: true });
  return { values: parsed.values as OptionValues<T>, positionals: parsed.positionals };
}

const INDENT = " ".repeat(11);
const WIDTH = 118;

/** A table's visible options as "--name help" items, wrapped to the usage's width under the command. */
function optionsUsage(options: OptionTable): string {
  const items = Object.entries(options)
    .filter(([, o]) => !o.internal)
    .map(([name, o]) => `--${name}${o.help ? ` ${o.help}` : ""}`);
  const room = WIDTH - INDENT.length;
  const lines: string[] = [];
  let line = "";
  for (const item of items) {
    if (line !== "" && line.length + 3 + item.length > room) {
      lines.push(line);
      line = "";
    }
    if (line === "" && item.length > room) {
      // An option longer than a line goes on lines of its own, continued two spaces in.
      const wrapped = wrapWords(item, room, "  ");
      lines.push(...wrapped.slice(0, -1));
      line = wrapped.at(-1)!;
      continue;
    }
    line = line === "" ? item : `${line}   ${item}`;
  }
  if (line !== "") lines.push(line);
  return lines.map((l) => INDENT + l).join("\n");
}

/** Text broken at spaces into lines of at most `width` characters, every line after the first starting with `indent`. */
function wrapWords(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  return [...lines, line];
}

/** A command's block of the usage: its name, its summary (beside the name where the name is short), then its options. */
export function commandUsage(name: string, command: Command): string {
  const head = `  ${[name, command.positionals].filter(Boolean).join(" ")}`;
  const summary = wrapWords(command.summary.replace(/\s+/g, " "), WIDTH - INDENT.length, "").map((l) => INDENT + l);
  const lines = head.length < INDENT.length ? [head.padEnd(INDENT.length) + summary[0].trimStart(), ...summary.slice(1)] : [head, ...summary];
  const options = optionsUsage(command.options);
  return [...lines, ...(options === "" ? [] : [options])].join("\n");
}
