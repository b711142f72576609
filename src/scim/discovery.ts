import { GROUP_SCHEMA, type Json, USER_SCHEMA } from './resources.js';

/** Discovery documents (RFC 7643 §5-7), built for one base URL. */

const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const SPC = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
const RESOURCE_TYPE = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
const SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';

export const MAX_RESULTS = 200;
export const MAX_BODY_BYTES = 1024 * 1024;

export function listResponse(resources: Json[], total: number, startIndex: number): Json {
  return {
    schemas: [LIST],
    totalResults: total,
    startIndex,
    itemsPerPage: resources.length,
    Resources: resources,
  };
}

export function serviceProviderConfig(base: string): Json {
  return {
    schemas: [SPC],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_RESULTS },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: false },
    authenticationSchemes: [
      {
        type: 'httpbasic',
        name: 'HTTP Basic',
        description: 'SCIM_USER and SCIM_PASSWORD',
        specUri: 'https://www.rfc-editor.org/rfc/rfc7617',
        primary: true,
      },
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: 'SCIM_BEARER_TOKEN',
        specUri: 'https://www.rfc-editor.org/rfc/rfc6750',
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
  };
}

export function resourceTypes(base: string): Json[] {
  return [
    {
      schemas: [RESOURCE_TYPE],
      id: 'User',
      name: 'User',
      endpoint: '/Users',
      description: 'People who may sign in',
      schema: USER_SCHEMA,
      schemaExtensions: [],
      meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/User` },
    },
    {
      schemas: [RESOURCE_TYPE],
      id: 'Group',
      name: 'Group',
      endpoint: '/Groups',
      description: 'Groups, seen by access rules and the Remote-Groups header',
      schema: GROUP_SCHEMA,
      schemaExtensions: [],
      meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/Group` },
    },
  ];
}

interface AttrSpec {
  name: string;
  type?: 'string' | 'boolean' | 'complex' | 'reference' | 'dateTime';
  multiValued?: boolean;
  required?: boolean;
  caseExact?: boolean;
  mutability?: 'readOnly' | 'readWrite' | 'immutable';
  uniqueness?: 'none' | 'server';
  subAttributes?: AttrSpec[];
  description?: string;
}

function attribute(spec: AttrSpec): Json {
  return {
    name: spec.name,
    type: spec.type ?? 'string',
    multiValued: spec.multiValued ?? false,
    description: spec.description ?? '',
    required: spec.required ?? false,
    caseExact: spec.caseExact ?? false,
    mutability: spec.mutability ?? 'readWrite',
    returned: 'default',
    uniqueness: spec.uniqueness ?? 'none',
    ...(spec.subAttributes ? { subAttributes: spec.subAttributes.map(attribute) } : {}),
  };
}

const USER_ATTRIBUTES: AttrSpec[] = [
  {
    name: 'userName',
    required: true,
    uniqueness: 'server',
    description: 'The email address, or another unique name when emails holds the address',
  },
  {
    name: 'name',
    type: 'complex',
    subAttributes: [{ name: 'formatted' }, { name: 'givenName' }, { name: 'familyName' }],
  },
  { name: 'displayName' },
  { name: 'active', type: 'boolean', description: 'false ends every session of the user' },
  {
    name: 'emails',
    type: 'complex',
    multiValued: true,
    subAttributes: [{ name: 'value' }, { name: 'type' }, { name: 'primary', type: 'boolean' }],
  },
  {
    name: 'groups',
    type: 'complex',
    multiValued: true,
    mutability: 'readOnly',
    subAttributes: [
      { name: 'value', caseExact: true, mutability: 'readOnly' },
      { name: 'display', mutability: 'readOnly' },
    ],
  },
  { name: 'externalId', caseExact: true },
];

const GROUP_ATTRIBUTES: AttrSpec[] = [
  { name: 'displayName', required: true, uniqueness: 'server' },
  {
    name: 'members',
    type: 'complex',
    multiValued: true,
    subAttributes: [
      { name: 'value', caseExact: true, mutability: 'immutable' },
      { name: 'display', mutability: 'readOnly' },
    ],
  },
  { name: 'externalId', caseExact: true },
];

export function schemas(base: string): Json[] {
  const schema = (id: string, name: string, attributes: AttrSpec[]): Json => ({
    schemas: [SCHEMA],
    id,
    name,
    description: `${name} as portcullis keeps it`,
    attributes: attributes.map(attribute),
    meta: { resourceType: 'Schema', location: `${base}/Schemas/${id}` },
  });
  return [
    schema(USER_SCHEMA, 'User', USER_ATTRIBUTES),
    schema(GROUP_SCHEMA, 'Group', GROUP_ATTRIBUTES),
  ];
}
