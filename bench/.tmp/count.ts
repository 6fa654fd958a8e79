import * as pulumi from "@pulumi/pulumi";
import { loadStackFile } from "../../render/stackConfig";
import { declareStack, STACK_ROOT } from "../../components/stack";
const stack = process.argv[2];
const loaded = loadStackFile(stack);
const types = new Map<string, number>();
const names: string[] = [];
pulumi.runtime.setMocks({
  newResource(args) { types.set(args.type, (types.get(args.type) ?? 0) + 1); names.push(args.type + " " + args.name); return { id: args.name + "-id", state: args.inputs }; },
  call() { throw new Error("invoke"); },
}, STACK_ROOT, stack, true);
declareStack(loaded);
pulumi.runtime.disconnect().then(() => {
  console.log([...types].sort((a,b)=>b[1]-a[1]).map(([t,n])=>`${n}\t${t}`).join("\n"));
  if (process.argv[3]) console.log(names.join("\n"));
});
