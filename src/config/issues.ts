/** One config problem, reported as `path.to.key: what is wrong`. */
export interface ConfigIssue {
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly issues: readonly ConfigIssue[],
    /** What check-config would also have warned about, had the config been valid. */
    readonly warnings: readonly string[] = [],
  ) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatIssue(issue: ConfigIssue): string {
  return `${issue.path || '(root)'}: ${issue.message}`;
}
