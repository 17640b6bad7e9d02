// login, logout and server (issue 4 fills these in).
import type { Command } from "commander";
import type { CliIO } from "../io.js";

export function registerCloudCommands(_program: Command, _io: CliIO, _setExitCode: (code: number) => void): void {}
