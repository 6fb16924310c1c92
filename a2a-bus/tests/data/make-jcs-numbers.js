// Makes jcs-numbers.txt: `node make-jcs-numbers.js > jcs-numbers.txt`. Each line is a double's
// bits (hex) and String(x), which is the text RFC 8785 requires for it.
// Doubles and their ECMAScript text: random bit patterns, and the tie-prone kinds
// (integers past 2^53, integers with a few fraction bits, numbers at 15–17 digits).
const crypto = require('crypto');
const out = [];
const buf = new DataView(new ArrayBuffer(8));
function add(x) {
  if (!Number.isFinite(x)) return;
  buf.setFloat64(0, x);
  out.push(buf.getBigUint64(0).toString(16).padStart(16, '0') + ' ' + String(x));
}
for (let i = 0; i < 1000; i++) {
  const bytes = crypto.randomBytes(8);
  const d = new DataView(bytes.buffer, bytes.byteOffset, 8);
  add(d.getFloat64(0));
}
for (let i = 0; i < 500; i++) {
  const big = 2 ** (50 + Math.floor(Math.random() * 4)) + Math.floor(Math.random() * 2 ** 40);
  add(big + [0.25, 0.5, 0.75, 0.125][i % 4]);
  add((2 ** 53 + Math.floor(Math.random() * 2 ** 50)) * 2 ** Math.floor(Math.random() * 30));
  add(Math.random() * 10 ** (Math.floor(Math.random() * 40) - 20));
  add(Math.round(Math.random() * 1e6) / 100);
}
process.stdout.write(out.join('\n') + '\n');
