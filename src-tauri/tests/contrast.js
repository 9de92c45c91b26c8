// WCAG 2.x contrast of every visible piece of text on the page, measured in the real
// WebKit rendering (computed colours, backgrounds composited up the tree).
// Returns { checked, lowest: {ratio, text, where}, failures: [...] }.
// AA: 4.5:1 for normal text, 3:1 for large text (24px, or 18.66px bold). Disabled
// controls are exempt (WCAG 1.4.3), as are hidden elements.
const parse = (c) => {
  const m = c.match(/rgba?\(([^)]+)\)/);
  if (!m) return [0, 0, 0, 0];
  const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
// Source-over: colour `top` (with alpha) on an opaque `bottom`.
const over = (top, bottom) => {
  const a = top[3];
  return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat(1);
};
const luminance = (c) => {
  const lin = c.slice(0, 3).map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
};
const ratio = (a, b) => {
  const [l1, l2] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (l1 + 0.05) / (l2 + 0.05);
};
// The colour behind an element: its own and its ancestors' backgrounds, stacked.
const backdrop = (el) => {
  const layers = [];
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
    const bg = parse(getComputedStyle(e).backgroundColor);
    if (bg[3] > 0) layers.push(bg);
    if (bg[3] >= 1) break;
  }
  let c = [255, 255, 255, 1];
  for (let i = layers.length - 1; i >= 0; i--) c = over(layers[i], c);
  return c;
};
const exempt = (el) => !!el.closest("[disabled], [aria-disabled='true'], [hidden], [aria-hidden='true']");
const opacity = (el) => {
  let o = 1;
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
  return o;
};

const failures = [];
let checked = 0;
let lowest = null;
for (const el of document.body.querySelectorAll("*")) {
  const text = Array.from(el.childNodes)
    .filter((n) => n.nodeType === 3)
    .map((n) => n.textContent.trim())
    .join(" ")
    .trim();
  if (!text || exempt(el)) continue;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  if (style.visibility !== "visible" || box.width === 0 || box.height === 0) continue;
  if (box.bottom < 0 || box.right < 0 || box.top > innerHeight || box.left > innerWidth) continue;
  const bg = backdrop(el);
  const fg = parse(style.color);
  const fgOnBg = over([fg[0], fg[1], fg[2], fg[3] * opacity(el)], bg);
  const r = ratio(fgOnBg, bg);
  const size = parseFloat(style.fontSize);
  const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
  const need = large ? 3 : 4.5;
  const where = el.closest("[data-testid]")?.getAttribute("data-testid") ?? el.tagName.toLowerCase();
  const item = { ratio: Math.round(r * 100) / 100, need, text: text.slice(0, 60), where, fg: style.color, bg: `rgb(${bg.slice(0, 3).map(Math.round).join(", ")})` };
  checked++;
  if (!lowest || r < lowest.ratio) lowest = item;
  if (r < need) failures.push(item);
}
return { checked, lowest, failures };
