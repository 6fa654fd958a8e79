%% Imports the release's users (with their password hashes), vhosts and permissions into
%% the running node, where an import updates in place, and deletes the default guest
%% user. One CLI call for both: every call boots an Erlang VM of its own. Defs is bound
%% by the caller to the file's path.
{ok, Body} = file:read_file(Defs),
ok = rabbit_definitions:import_raw(Body),
case rabbit_auth_backend_internal:exists(<<"guest">>) of
    true -> ok = rabbit_auth_backend_internal:delete_user(<<"guest">>, <<"nordfleet">>);
    false -> ok
end.
