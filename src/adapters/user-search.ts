import type { User } from '../ports/users.js';

/** Whether an admin's search text (trimmed, lower-cased) finds the user: email, name or username. */
export function matches(user: User, needle: string): boolean {
  return (
    user.email.includes(needle) ||
    user.name.toLowerCase().includes(needle) ||
    user.username.toLowerCase().includes(needle)
  );
}
