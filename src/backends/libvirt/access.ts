// In qemu:///system mode QEMU runs as its own user (libvirt-qemu on Debian). libvirt chowns the
// files a domain uses, but not the folders above them, so QEMU cannot reach a disk under a
// private folder such as /root/.heyo. heyvm grants that user search permission (x only: it
// cannot list anything) on exactly those folders with an ACL, as virt-manager does.
import { readFileSync } from "node:fs";
import { UnavailableError } from "../../shared/errors.js";
import { findSystemExecutable, run } from "../../shared/run.js";
import { blockedFolders } from "../path-access.js";
import type { Reporter } from "../types.js";
import { isSystemUri } from "./virsh.js";

interface Account {
  name: string;
  uid: number;
  gid: number;
}

/** The account QEMU runs as under libvirt, or undefined when it runs as us (session mode, root). */
export function qemuAccount(): Account | undefined {
  if (!isSystemUri()) return undefined;
  let name = "libvirt-qemu";
  try {
    const configured = /^\s*user\s*=\s*"([^"]+)"/m.exec(readFileSync("/etc/libvirt/qemu.conf", "utf8"));
    if (configured?.[1]) name = configured[1];
  } catch {
    // no readable qemu.conf: Debian's default user
  }
  if (name === "root" || name === "+0") return undefined;
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const [user, , uid, gid] = line.split(":");
      if (user === name) return { name, uid: Number(uid), gid: Number(gid) };
    }
  } catch {
    // fall through
  }
  return undefined;
}

/**
 * Whether getfacl's text gives the account search access in effect: a later chmod (a restarted
 * `heyvm server` making its data folder 0700 again) narrows the ACL mask and leaves the entry in
 * place but ineffective (`#effective:---`); setfacl -m then recomputes the mask.
 */
export function searchGranted(getfaclText: string, accountName: string): boolean {
  const entry = new RegExp(`^user:${accountName}:..x(.*)$`, "m").exec(getfaclText);
  if (!entry) return false;
  const effective = /#effective:(...)/.exec(entry[1] ?? "");
  return !effective || effective[1]?.[2] === "x";
}

/** Lets QEMU's account reach each of these files (it gets the files themselves from libvirt). */
export async function grantQemuAccess(files: string[], reporter: Reporter): Promise<void> {
  const account = qemuAccount();
  if (!account) return;
  const blocked = blockedFolders(files, account);
  if (blocked.size === 0) return;
  const setfacl = findSystemExecutable("setfacl");
  const getfacl = findSystemExecutable("getfacl");
  for (const dir of blocked) {
    if (getfacl) {
      const acl = await run(getfacl, ["-cp", dir], { allowFailure: true });
      if (searchGranted(acl.stdout, account.name)) continue; // granted before, and not masked since
    }
    if (!setfacl) {
      throw new UnavailableError(
        `QEMU runs as ${account.name} and cannot reach ${dir}`,
        `install acl (\`apt-get install acl\`) so heyvm can grant it search access, run \`setfacl -m u:${account.name}:x ${dir}\`, or set HEYO_HOME to a folder it can reach`,
      );
    }
    await run(setfacl, ["-m", `u:${account.name}:x`, dir]);
    reporter.info(`granted ${account.name} search access to ${dir} (ACL) so QEMU can open the VM's files`);
  }
}

/**
 * Lets QEMU's account read and write the sandbox's overlay and read its base (ACL entries): the
 * disk is not relabelled by libvirt (domain-xml.ts), so heyvm, not libvirt's dynamic ownership,
 * decides which files QEMU may open.
 */
export async function grantQemuDiskAccess(overlay: string, base: string, layers: readonly string[] = []): Promise<void> {
  const account = qemuAccount();
  if (!account) return;
  const setfacl = findSystemExecutable("setfacl");
  if (!setfacl) throw new UnavailableError(`QEMU runs as ${account.name} and heyvm cannot grant it the sandbox's disk`, "install acl (`apt-get install acl`)");
  await run(setfacl, ["-m", `u:${account.name}:rw`, overlay]);
  await run(setfacl, ["-m", `u:${account.name}:r`, base, ...layers]);
}
