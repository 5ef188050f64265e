/** "Did you mean ...?" for mistyped config keys and values. */

/** Edit distance (insert, delete, substitute: cost 1 each). */
export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The candidate closest to `name` (case-insensitive) within edit distance 2,
 * or one that merely adds a suffix such as a unit (`election_timeout` ->
 * `election_timeout_ms`), which is too far for the distance rule but a
 * common slip. Ties go to the earlier candidate. Null when nothing is close.
 */
export function closest(name: string, candidates: Iterable<string>): string | null {
  const lower = name.toLowerCase();
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const c = candidate.toLowerCase();
    let d = levenshtein(lower, c);
    if (d > 2 && lower.length >= 4 && c.startsWith(lower + '_')) d = 2;
    if (d <= 2 && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}
