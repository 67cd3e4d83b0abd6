import { z } from 'zod';
import { answersSchema, SCHEMA_ONLY } from './schema';

/** The JSON Schema of the answers file, for editors (yaml-language-server) and docs. */
export function answersJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(answersSchema(SCHEMA_ONLY), { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    $id: 'https://berth.invalid/schema/answers-v1.json',
    title: 'berth answers file',
    description: 'Everything berth needs to build the platform. See `berth answers example`.',
    ...schema,
  };
}
