# The source the Rust build reads: crane's Cargo filter (Cargo.toml/lock, .rs, .toml)
# plus the non-Rust files the crate embeds with include_str!. Kept in its own file so
# tests can check it with nixpkgs.lib and crane's lib only.
{ lib, craneLib }:
let
  root = ../.;
  # Files read at compile time besides Rust sources (include_str! / include_bytes!).
  # The Control UI (ui/: HTML, JS modules, CSS) is embedded whole.
  embedded = [ "src/config/schema/original.json" ];
  isEmbedded =
    path:
    lib.any (rel: lib.hasSuffix "/${rel}" (toString path)) embedded
    || lib.hasPrefix "${toString root}/ui/" (toString path);
in
lib.cleanSourceWith {
  src = root;
  name = "clawdbot-source";
  filter = path: type: (craneLib.filterCargoSources path type) || isEmbedded path;
}
