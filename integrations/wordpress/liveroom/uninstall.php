<?php
/**
 * Removes everything the plugin stored when it is deleted.
 *
 * @package Liveroom
 */

if ( ! defined( 'WP_UNINSTALL_PLUGIN' ) ) {
	exit;
}

delete_option( 'liveroom_settings' );
delete_option( 'liveroom_api_key' );
delete_transient( 'liveroom_dashboard' );
// Every user's remembered rooms (the rooms themselves stay on the Liveroom server).
delete_metadata( 'user', 0, 'liveroom_rooms', '', true );
