"""The bottom layer every explainr package may import; it imports no other explainr package.

- `errors`: `ExplainrError`;
- `inputs`, `windows`: inputs normalised to ``(batch, time, feature)`` with names and labels;
- `model`: the one model interface (call, probe, target column, device and dtype);
- `state`: the caller's state left as found (`preserved`, `gradient_pass`);
- `files`: atomic writes that keep the user's permissions;
- `cells`: the registry of recurrent cell kinds;
- `sinks`: where running recurrent modules hand their gates to open `record` blocks.
"""
