// Times Strudel on benches/dense8.rhai, queried as benches/patterns.rs queries it.
// Setup: copy shared/conformance to a folder, `npm install` there, then
//   node --import <that folder>/stub.mjs benches/strudel_dense8.mjs <that folder>
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const dir = process.argv[2];
const core = await import(pathToFileURL(`${dir}/node_modules/@strudel/core/dist/index.mjs`).href);
const { mini } = await import(pathToFileURL(`${dir}/node_modules/@strudel/mini/dist/index.mjs`).href);

const src = readFileSync(new URL('./dense8.rhai', import.meta.url), 'utf8');
const js = src.replace(/"([^"]*)"/g, (_, s) => `__mini(${JSON.stringify(s)})`).replace(/\|(\w+)\|/g, '$1 =>');
const scope = { ...core, __mini: mini };
const pat = new Function(...Object.keys(scope), `return (${js});`)(...Object.values(scope));

const queryAll = () => {
  let n = 0;
  for (let c = 0; c < 64; c++) n += pat.queryArc(c, c + 1).length;
  return n;
};
const haps = queryAll();
for (let i = 0; i < 3; i++) queryAll(); // warm up the JIT
const runs = 20;
const times = [];
for (let i = 0; i < runs; i++) {
  const t0 = process.hrtime.bigint();
  queryAll();
  times.push(Number(process.hrtime.bigint() - t0) / 1e9);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(runs / 2)];
console.log(`strudel dense8: ${haps} haps in ${(median * 1000).toFixed(1)} ms (median of ${runs}) = ${(haps / median).toFixed(0)} haps/s`);
