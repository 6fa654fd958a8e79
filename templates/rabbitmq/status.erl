%% What the release's check looks at, read from the running node in one CLI call (every
%% call boots an Erlang VM of its own), one "kind value" line each: the node's resource
%% alarms, its listeners' protocols, its vhosts and whether the guest user exists.
[io:format("alarm ~0p~n", [A]) || A <- rabbit_alarm:get_local_alarms()],
[io:format("listener ~s~n", [element(3, L)]) || L <- rabbit_networking:node_listeners(node())],
[io:format("vhost ~s~n", [V]) || V <- rabbit_vhost:list_names()],
[io:format("user guest~n") || rabbit_auth_backend_internal:exists(<<"guest">>)],
done.
