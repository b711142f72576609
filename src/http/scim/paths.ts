/** Where SCIM lives and how it answers: shared by its handler and the error mapper. */
export const SCIM_BASE_PATH = '/scim/v2';

export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';

/** True for `/scim/v2` and everything under it. */
export function isScimPath(path: string): boolean {
  return (
    path.startsWith(SCIM_BASE_PATH) &&
    (path.length === SCIM_BASE_PATH.length || path.charCodeAt(SCIM_BASE_PATH.length) === 47)
  );
}
