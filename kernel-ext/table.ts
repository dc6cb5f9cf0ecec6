/**
 * arquero tables as notebook outputs: an HTML table for notebook frontends and a markdown table as text/plain,
 * in one output.
 */
import type { ColumnTable } from "arquero";
import { escapeHtml } from "./html";
import { type MimeBundle, writeDisplay } from "./output";

export interface TableOptions {
  /** Rows to show (default 20); a caption says how many were left out. */
  limit?: number;
  /** Most fractional digits a number shows (default 3). */
  digits?: number;
  title?: string;
}

const DEFAULT_LIMIT = 20;
const DEFAULT_DIGITS = 3;

const TABLE_STYLE = {
  table: "border-collapse: collapse; font-size: 12px; font-variant-numeric: tabular-nums;",
  th: "padding: 2px 10px; border-bottom: 1px solid #999;",
  td: "padding: 2px 10px;",
};

/**
 * arquero's column formats, capped at `digits`. arquero already picks one decimal count per column (integers stay
 * integers, tiny values switch to exponents); `maxdigits` caps it. arquero reads a cap of 0 as "unset" (6), so for 0
 * every number column gets an explicit zero-decimal format instead.
 */
function numberFormats(t: ColumnTable, digits: number): { maxdigits: number; format?: Record<string, { digits: number }> } {
  if (digits > 0) return { maxdigits: digits };
  const numberColumns = t.columnNames().filter((name) => typeof t.get(name, 0) === "number");
  return { maxdigits: 1, format: Object.fromEntries(numberColumns.map((name) => [name, { digits: 0 }])) };
}

function rowsCaption(shown: number, total: number): string {
  return shown < total ? `${shown} of ${total} rows` : `${total} rows`;
}

/** HTML and markdown renderings of a table. */
export function tableMimeBundle(t: ColumnTable, options: TableOptions = {}): MimeBundle {
  const limit = options.limit ?? DEFAULT_LIMIT;
  const formats = numberFormats(t, options.digits ?? DEFAULT_DIGITS);
  const total = t.numRows();
  const caption = rowsCaption(Math.min(limit, total), total);
  const heading = options.title ? `${options.title} (${caption})` : caption;
  const html =
    `<div class="xft-table"><div style="font-weight: bold; margin: 4px 0;">${escapeHtml(heading)}</div>` +
    t.toHTML({ limit, ...formats, style: TABLE_STYLE }) +
    `</div>`;
  const markdown = `${heading}\n\n${t.toMarkdown({ limit, ...formats })}`;
  return { "text/html": html, "text/plain": markdown };
}

/** Shows an arquero table as one notebook output. */
export function table(t: ColumnTable, options: TableOptions = {}): void {
  writeDisplay(tableMimeBundle(t, options));
}
