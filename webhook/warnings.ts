// Admission warnings: kubectl prints them as they are, and the API server refuses long ones.

export const MAX_WARNING_LENGTH = 120;

/**
 * The text, cut to the limit when longer: after its last whole word that fits, less a trailing
 * comma, colon or semicolon, then an ellipsis. A text with no space to cut at (one long name) is
 * cut where the limit falls.
 */
export function limitWarning(text: string): string {
  if (text.length <= MAX_WARNING_LENGTH) return text;
  const room = text.slice(0, MAX_WARNING_LENGTH - 1);
  // Where a word ends: a space follows it, in the text (not only in what fits).
  const wordEnd = text[room.length] === ' ' ? room.length : room.lastIndexOf(' ');
  const kept = wordEnd > 0 ? room.slice(0, wordEnd).trimEnd().replace(/[,;:]+$/, '') : room;
  return `${kept}…`;
}
