# Tier B: the package's source filter (nix/source.nix) with crane's own filter functions
# and nixpkgs.lib, against the files git tracks (a flake sees only those).
{
  lib,
  crane,
  tracked,
  ...
}:
let
  craneLib = {
    filterCargoSources = import "${crane}/lib/filterCargoSources.nix" { inherit lib; };
  };
  crateName = import "${crane}/lib/crateNameFromCargoToml.nix" {
    inherit lib;
    internalCrateNameFromCargoToml = import "${crane}/lib/internalCrateNameFromCargoToml.nix" {
      inherit lib;
    };
  };
  src = import ../../nix/source.nix { inherit lib craneLib; };
  root = toString ../..;
  files = lib.filter (f: f != "") (lib.splitString "\n" tracked);
  dirsOf =
    f:
    let
      parts = lib.init (lib.splitString "/" f);
    in
    lib.genList (i: lib.concatStringsSep "/" (lib.take (i + 1) parts)) (lib.length parts);
  kept =
    f:
    lib.all (d: src.filter "${root}/${d}" "directory") (dirsOf f)
    && src.filter "${root}/${f}" "regular";
  keptFiles = lib.filter kept files;
  rustFiles = lib.filter (lib.hasSuffix ".rs") files;
  # `a/b/../c` → `a/c` (include paths climb out of src/ to reach ui/).
  resolve =
    p:
    lib.concatStringsSep "/" (
      lib.foldl' (
        acc: seg:
        if seg == ".." then
          lib.init acc
        else if seg == "." then
          acc
        else
          acc ++ [ seg ]
      ) [ ] (lib.splitString "/" p)
    );
  # Every file a Rust source embeds with include_str!/include_bytes!, resolved relative
  # to that source file.
  embedded = lib.concatMap (
    f:
    let
      matches = lib.filter lib.isList (
        builtins.split ''include_(str|bytes)!\("([^"]+)"\)'' (builtins.readFile "${root}/${f}")
      );
    in
    map (m: resolve "${dirOf f}/${lib.elemAt m 1}") matches
  ) rustFiles;
  missing = required: lib.filter (f: !(kept (lib.removePrefix "./" f))) required;
in
{
  cases = {
    embeddedFilesAreKept = {
      actual = {
        found = embedded != [ ];
        missing = missing embedded;
      };
      expected = {
        found = true;
        missing = [ ];
      };
    };
    cargoBuildInputsAreKept = {
      actual = missing (
        [
          "Cargo.toml"
          "Cargo.lock"
        ]
        ++ rustFiles
      );
      expected = [ ];
    };
    nixAndDocsAreDropped = {
      actual = lib.filter (
        f: lib.hasSuffix ".nix" f || lib.hasSuffix ".md" f || lib.hasPrefix "scripts/" f
      ) keptFiles;
      expected = [ ];
    };
    crateNameAndVersion = {
      actual = crateName { cargoToml = ../../Cargo.toml; };
      expected = {
        pname = "clawdbot";
        version = (lib.importTOML ../../Cargo.toml).package.version;
      };
    };
  };
}
