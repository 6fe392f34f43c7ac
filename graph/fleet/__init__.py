"""GraphQL shell of the fleet: organization, shops, machines, live inventory."""
