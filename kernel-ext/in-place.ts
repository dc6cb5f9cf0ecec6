/**
 * One notebook output that is created by its first bundle and replaced in place (update_display_data) by every later
 * one: what a live output (a progress bar, a chart) draws through.
 */
import { type MimeBundle, newDisplayId, writeDisplay } from "./output";

export function outputInPlace(): (bundle: MimeBundle) => void {
  const displayId = newDisplayId();
  let created = false;
  return (bundle) => {
    writeDisplay(bundle, { displayId, update: created });
    created = true;
  };
}
