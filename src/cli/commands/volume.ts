// `heyvm volume create|list|path|rm`: named persistent folders that outlive sandboxes and mount
// into any of them (`create --volume`, `wt --volume`).
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";
import { age, table } from "../render.js";

const createVolumeCommand = defineCommand<FormatFlags>({
  name: "create",
  description: "make a named volume (an empty folder heyvm keeps)",
  arguments: [{ name: "<name>", description: "letters, digits, '.', '_' and '-'" }],
  options: FORMAT_OPTIONS,
  async run({ io, args: [name], flags }) {
    const { createVolume } = await import("../../core/volumes.js");
    const volume = createVolume(heyoHome(), String(name));
    if (wantsJson(flags)) return printJson(io, volume);
    print(io, volume.name);
  },
});

const listVolumesCommand = defineCommand<FormatFlags>({
  name: "list",
  description: "list volumes with their host folder and the sandboxes that mount them",
  options: FORMAT_OPTIONS,
  async run({ io, flags }) {
    const { listVolumes } = await import("../../core/volumes.js");
    const volumes = listVolumes(heyoHome());
    if (wantsJson(flags)) return printJson(io, volumes);
    if (volumes.length === 0) return print(io, "no volumes (make one with `heyvm volume create <name>` or `create --volume <name>`)");
    print(io, table(["NAME", "USED BY", "AGE", "PATH"], volumes.map((v) => [v.name, v.used_by.join(",") || "-", age(v.created_at), v.path])));
  },
});

const volumePathCommand = defineCommand<FormatFlags>({
  name: "path",
  description: "print a volume's host folder",
  arguments: [{ name: "<name>", description: "the volume" }],
  options: FORMAT_OPTIONS,
  async run({ io, args: [name], flags }) {
    const { getVolume } = await import("../../core/volumes.js");
    const volume = getVolume(heyoHome(), String(name));
    if (wantsJson(flags)) return printJson(io, { name: volume.name, path: volume.path });
    print(io, volume.path);
  },
});

interface RmFlags extends FormatFlags {
  yes?: boolean;
  purge?: boolean;
}

const removeVolumeCommand = defineCommand<RmFlags>({
  name: "rm",
  description: "remove a volume no sandbox mounts (one that holds files only with --purge)",
  arguments: [{ name: "<name>", description: "the volume" }],
  options: [
    { flags: "-y, --yes", description: "do not ask (needed without a terminal)" },
    { flags: "--purge", description: "delete the files it holds too" },
    ...FORMAT_OPTIONS,
  ],
  async run({ io, args: [name], flags }) {
    if (!flags.yes) throw new UserError(`volume rm needs -y to remove ${String(name)}`, { hint: `heyvm volume rm ${String(name)} -y${flags.purge ? " --purge" : ""}` });
    const { removeVolume } = await import("../../core/volumes.js");
    const result = removeVolume(heyoHome(), String(name), { purge: flags.purge === true });
    if (wantsJson(flags)) return printJson(io, { name: result.name, removed: true, purged: result.purged });
    print(io, `removed volume ${result.name}${result.purged ? " and its files" : ""}`);
  },
});

export const volumeCommand = defineCommand({
  name: "volume",
  description: "named persistent volumes: create, list, path, rm",
  subcommands: [createVolumeCommand, listVolumesCommand, volumePathCommand, removeVolumeCommand],
});
