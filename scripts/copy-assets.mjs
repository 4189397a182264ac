// The compiled code reads these at run time beside itself: Lua scripts next to the module that loads
// them (new URL('.', import.meta.url)), Avro schemas at ../../schemas from dist/src/<dir>/.
import { cpSync, statSync } from 'node:fs';

cpSync('src', 'dist/src', {
  recursive: true,
  filter: (path) => statSync(path).isDirectory() || path.endsWith('.lua'),
});
cpSync('schemas', 'dist/schemas', { recursive: true, filter: (path) => !path.endsWith('.md') });
