# Renders settings to clawdbot.json and validates it with the gateway's own
# `check-config` inside a derivation: a bad config fails the build, before activation.
# Secret files are not read here (--no-secrets); they are read when the gateway starts.
{
  pkgs,
  package,
  settings,
  configFile ? null,
  # Store name of the checked file (instances get their own).
  name ? "clawdbot-config.json",
}:
let
  rendered = (pkgs.formats.json { }).generate "clawdbot.json" settings;
in
if configFile != null then
  configFile
else
  pkgs.runCommand name
    {
      nativeBuildInputs = [ package ];
      preferLocalBuild = true;
    }
    ''
      HOME=$TMPDIR clawdbot check-config --no-secrets ${rendered}
      cp ${rendered} $out
    ''
