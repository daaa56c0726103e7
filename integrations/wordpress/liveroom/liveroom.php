<?php
/**
 * Plugin Name:       Liveroom
 * Description:       Liveroom's contact button and meeting rooms on your site: visitors see whether you are there, ask for a chat or a video call, and logged-in users get their own meeting room.
 * Version:           1.0.0
 * Requires at least: 6.1
 * Requires PHP:      8.1
 * Author:            Liveroom
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       liveroom
 * Domain Path:       /languages
 *
 * @package Liveroom
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

define( 'LIVEROOM_VERSION', '1.0.0' );
define( 'LIVEROOM_FILE', __FILE__ );
define( 'LIVEROOM_DIR', plugin_dir_path( __FILE__ ) );

require_once LIVEROOM_DIR . 'includes/class-liveroom-options.php';
require_once LIVEROOM_DIR . 'includes/class-liveroom-api.php';
require_once LIVEROOM_DIR . 'includes/class-liveroom-settings.php';
require_once LIVEROOM_DIR . 'includes/class-liveroom-button.php';
require_once LIVEROOM_DIR . 'includes/class-liveroom-room.php';
require_once LIVEROOM_DIR . 'includes/class-liveroom-dashboard.php';

add_action(
	'init',
	static function () {
		load_plugin_textdomain( 'liveroom', false, dirname( plugin_basename( LIVEROOM_FILE ) ) . '/languages' );
		Liveroom_Button::register();
		Liveroom_Room::register();
	}
);

if ( is_admin() ) {
	Liveroom_Settings::register();
	Liveroom_Dashboard::register();
}
