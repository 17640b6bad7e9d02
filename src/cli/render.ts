// Plain-text tables and ages for terminal output.

/** A span of seconds in its largest whole unit: 42s, 5m, 3h, 2d ("-" when unknown). */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "-";
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** How long ago an ISO time was, as formatDuration says it. */
export function age(fromIso: string | null, now = Date.now()): string {
  if (!fromIso) return "-";
  return formatDuration(Math.max(0, Math.round((now - Date.parse(fromIso)) / 1000)));
}

export function table(headers: string[], rows: string[][]): string {
  // one pass for the widths and one for the lines: `list --all` draws thousands of rows
  const widths = headers.map((header) => header.length);
  for (const row of rows) {
    for (let column = 0; column < row.length; column++) {
      const length = (row[column] ?? "").length;
      if (length > (widths[column] ?? 0)) widths[column] = length;
    }
  }
  const last = headers.length - 1;
  const line = (cells: string[]) => {
    let text = "";
    for (let column = 0; column < cells.length; column++) {
      const cell = cells[column] ?? "";
      text += column === last ? cell : `${cell.padEnd(widths[column] ?? 0)}  `;
    }
    return text.trimEnd();
  };
  const lines = [line(headers)];
  for (const row of rows) lines.push(line(row));
  return lines.join("\n");
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
