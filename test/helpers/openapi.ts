/**
 * Checks real admin API responses against docs/openapi.yaml: the document itself is validated as
 * OpenAPI 3.1 (@seriousme/openapi-schema-validator), then each response body against the schema the
 * document gives for its path, method and status (Ajv, JSON Schema 2020-12, OpenAPI 3.1's dialect).
 */
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';

type Doc = {
  paths: Record<string, Record<string, { responses?: Record<string, Response> }>>;
  components: { responses: Record<string, Response> };
};
type Response = { $ref?: string; content?: Record<string, { schema: unknown }> };

export async function openApi() {
  const text = readFileSync(new URL('../../docs/openapi.yaml', import.meta.url), 'utf8');
  const doc = parse(text) as Doc;
  const verdict = await new Validator().validate(structuredClone(doc) as never);
  if (!verdict.valid)
    throw new Error(`docs/openapi.yaml is not valid OpenAPI: ${JSON.stringify(verdict.errors)}`);
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema(doc, 'openapi');
  const pointer = (...parts: string[]) =>
    parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
  return {
    version: (doc as unknown as { openapi: string }).openapi,
    /** Throws, naming the mismatch, unless `body` fits the documented response. */
    check(method: string, template: string, status: number, body: unknown): void {
      const op = doc.paths[template]?.[method.toLowerCase()];
      if (!op) throw new Error(`${method} ${template} is not documented`);
      let response = op.responses?.[String(status)];
      let at = pointer('paths', template, method.toLowerCase(), 'responses', String(status));
      if (!response) throw new Error(`${method} ${template} documents no ${status} response`);
      if (response.$ref) {
        const name = response.$ref.split('/').at(-1)!;
        response = doc.components.responses[name]!;
        at = pointer('components', 'responses', name);
      }
      if (!response.content?.['application/json'])
        throw new Error(`${method} ${template} ${status}: no application/json schema`);
      const validate = ajv.getSchema(`openapi#/${at}/content/${pointer('application/json')}/schema`);
      if (!validate) throw new Error(`no schema at ${at}`);
      if (!validate(body))
        throw new Error(
          `${method} ${template} ${status} does not match docs/openapi.yaml: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`,
        );
    },
  };
}
