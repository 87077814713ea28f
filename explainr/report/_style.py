"""The report's stylesheet (a Python string, so it ships without package-data config)."""

STYLE = """
:root { --ink: #1d2430; --muted: #5b6575; --line: #e3e7ee; --accent: #2f6fb3; --bg: #f6f8fb; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: var(--bg); }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; }
header.top { background: #fff; border-bottom: 1px solid var(--line); }
header.top .inner { max-width: 1180px; margin: 0 auto; padding: 22px 28px 14px; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 0 0 6px; font-size: 20px; }
h3 { margin: 18px 0 4px; font-size: 16px; }
.meta { color: var(--muted); font-size: 13px; }
nav { margin-top: 10px; font-size: 14px; display: flex; flex-wrap: wrap; gap: 2px 14px; }
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
nav a:hover { text-decoration: underline; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 18px 22px; margin: 18px 0; min-width: 0; }
h1, h2, h3 { overflow-wrap: anywhere; }
.scroll { max-width: 100%; overflow-x: auto; }
p.explain { margin: 2px 0 10px; color: var(--muted); max-width: 900px; }
p.note { margin: 6px 0; padding: 6px 10px; background: #fff7e0; border-left: 3px solid #e0a800;
  font-size: 13px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 16px; }
.cards > div { min-width: 0; overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 8px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px 4px 0; text-align: left;
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 4px 0;
  font-size: 13px; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
.figure { width: 100%; min-height: 200px; overflow: hidden; }
@media (max-width: 600px) {
  body { font-size: 14px; }
  main { padding: 12px 8px 40px; }
  header.top .inner { padding: 14px 12px 10px; }
  h1 { font-size: 21px; }
  section { padding: 12px 10px; margin: 12px 0; }
  .cards { grid-template-columns: minmax(0, 1fr); }
  dl { grid-template-columns: minmax(0, max-content) minmax(0, 1fr); }
}
code { font-size: 12px; background: var(--bg); padding: 1px 4px; border-radius: 3px; }
"""
