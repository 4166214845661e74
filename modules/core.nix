# What the NixOS and Home Manager modules both compute for one gateway (the top level,
# name = null, or instance `name`): its option path, unit name, the rendered and checked
# config, the service and admin-CLI environments, the workspace documents and the
# skills. Each module wires this record into its own service system; only how a secret
# reaches the gateway differs (`secretFile`: NixOS's credential dir, or the file itself).
{
  lib,
  pkgs,
}:
let
  clib = import ../nix/lib.nix;
in
{
  name,
  cfg,
  # Secret name → the path the gateway reads it from.
  secretFile,
}:
rec {
  inherit name cfg;
  at = if name == null then "services.clawdbot" else "services.clawdbot.instances.${name}";
  unit = clib.unitName name;
  suffix = lib.optionalString (name != null) "-${name}";
  port = cfg.settings.gateway.port;

  # The old `logLevel` still works (settings.logging.level wins); a warning says it moved.
  settings = dropEmptyLogging (
    clib.stripNulls (
      clib.withCronJobs (clib.withLogLevel (clib.withWorkspace (clib.withSecretFiles cfg.settings
        secretFile
        cfg.secrets
      ) cfg.workspace.path) cfg.logLevel) cfg.cron.jobs
    )
  );
  # The typed `logging` section renders as {} when nothing in it is set.
  dropEmptyLogging = s: if (s.logging or null) == { } then removeAttrs s [ "logging" ] else s;
  warnings =
    lib.optional (cfg.logLevel != null)
      "${at}.logLevel has been renamed to ${at}.settings.logging.level; it still works, but set the new option instead.";

  configFile = import ./checked-config.nix {
    inherit pkgs settings;
    inherit (cfg) package configFile;
    check = cfg.checkConfigFile;
    name = "clawdbot${suffix}-config.json";
  };
  environment = clib.serviceEnvironment {
    inherit (cfg) stateDir;
    option = at;
    configPath = "${configFile}";
  };
  # The service also gets each model provider key as <PROVIDER>_API_KEY_FILE.
  serviceEnvironment = environment // clib.apiKeyEnv secretFile cfg.secrets;

  documents = lib.mapAttrs (
    n: d:
    if d.text != null then
      pkgs.writeText "clawdbot-${lib.strings.sanitizeDerivationName (baseNameOf n)}" d.text
    else
      "${d.source}"
  ) cfg.workspace.documents;
  # Skill name → its directory in the store.
  skills = lib.mapAttrs (_: v: "${v}") cfg.skills;
  skillsDir = "${cfg.stateDir}/skills";

  # `migrateState`: upgrade old state files before the gateway starts (the gateway's
  # lock is free then). Null when off.
  migrateCommand = if cfg.migrateState then "${lib.getExe cfg.package} doctor --migrate" else null;

  # The admin command bound to this gateway (its config, state and option path).
  cli = import ./cli-wrapper.nix { inherit pkgs lib; } {
    name = "clawdbot${suffix}";
    inherit (cfg) package;
    inherit environment;
  };
}
