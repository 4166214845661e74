# Renders settings to clawdbot.json and validates it with the gateway's own
# `check-config` inside a derivation: a bad config fails the build, before activation.
# A user's `configFile` is checked the same way when it is part of the configuration (a
# path value or a store path, and `check` is on); an absolute path outside the store is a
# runtime file, read and checked by the gateway when it starts. Secret files are not read
# here (--no-secrets); they are read when the gateway starts.
{
  pkgs,
  package,
  settings,
  configFile ? null,
  check ? true,
  # Store name of the checked file (instances get their own).
  name ? "clawdbot-config.json",
}:
let
  rendered = (pkgs.formats.json { }).generate "clawdbot.json" settings;
  checked =
    file:
    pkgs.runCommand name
      {
        nativeBuildInputs = [ package ];
        preferLocalBuild = true;
      }
      ''
        HOME=$TMPDIR clawdbot check-config --no-secrets ${file}
        cp ${file} $out
      '';
  inStore =
    builtins.isPath configFile || builtins.substring 0 11 (toString configFile) == "/nix/store/";
in
if configFile == null then
  checked rendered
else if check && inStore then
  checked configFile
else
  configFile
