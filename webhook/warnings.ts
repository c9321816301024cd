// Admission warnings: kubectl prints them as they are, and the API server refuses long ones.

export const MAX_WARNING_LENGTH = 120;

/** The text, cut to the limit with an ellipsis when longer. */
export function limitWarning(text: string): string {
  return text.length <= MAX_WARNING_LENGTH ? text : `${text.slice(0, MAX_WARNING_LENGTH - 1)}…`;
}
