<?php
/**
 * Settings page (Settings → Liveroom) and "Test connection".
 *
 * @package Liveroom
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * The settings page, built on the settings API; "Test connection" is an
 * admin-post action with its own nonce and capability check.
 */
final class Liveroom_Settings {

	const PAGE   = 'liveroom';
	const ACTION = 'liveroom_test_connection';

	/**
	 * Hooks the page into the admin.
	 */
	public static function register(): void {
		add_action( 'admin_menu', array( __CLASS__, 'menu' ) );
		add_action( 'admin_init', array( __CLASS__, 'settings' ) );
		add_action( 'admin_post_' . self::ACTION, array( __CLASS__, 'test_connection' ) );
		add_filter( 'plugin_action_links_' . plugin_basename( LIVEROOM_FILE ), array( __CLASS__, 'action_links' ) );
		// New settings show on the dashboard at once, not after its cache expires.
		add_action( 'update_option_' . Liveroom_Options::SETTINGS, array( __CLASS__, 'forget_cache' ) );
		add_action( 'update_option_' . Liveroom_Options::API_KEY, array( __CLASS__, 'forget_cache' ) );
	}

	/**
	 * Drops the dashboard widget's cached answer.
	 */
	public static function forget_cache(): void {
		delete_transient( Liveroom_Dashboard::CACHE );
	}

	/**
	 * Adds Settings → Liveroom.
	 */
	public static function menu(): void {
		add_options_page( __( 'Liveroom', 'liveroom' ), __( 'Liveroom', 'liveroom' ), 'manage_options', self::PAGE, array( __CLASS__, 'render' ) );
	}

	/**
	 * A "Settings" link on the plugins page.
	 *
	 * @param string[] $links Existing links.
	 * @return string[]
	 */
	public static function action_links( array $links ): array {
		$url = admin_url( 'options-general.php?page=' . self::PAGE );
		array_unshift( $links, '<a href="' . esc_url( $url ) . '">' . esc_html__( 'Settings', 'liveroom' ) . '</a>' );
		return $links;
	}

	/**
	 * Registers the options and the form's fields.
	 */
	public static function settings(): void {
		register_setting(
			self::PAGE,
			Liveroom_Options::SETTINGS,
			array(
				'type'              => 'array',
				'sanitize_callback' => array( 'Liveroom_Options', 'sanitize' ),
				'default'           => Liveroom_Options::defaults(),
			)
		);
		register_setting(
			self::PAGE,
			Liveroom_Options::API_KEY,
			array(
				'type'              => 'string',
				'sanitize_callback' => array( 'Liveroom_Options', 'sanitize_key' ),
				'default'           => '',
			)
		);

		add_settings_section( 'liveroom_server', __( 'Server', 'liveroom' ), '__return_false', self::PAGE );
		add_settings_section( 'liveroom_button', __( 'Contact button', 'liveroom' ), array( __CLASS__, 'button_intro' ), self::PAGE );
		add_settings_section( 'liveroom_rooms', __( 'Meeting rooms', 'liveroom' ), array( __CLASS__, 'rooms_intro' ), self::PAGE );

		$fields = array(
			array( 'server_url', __( 'Liveroom server URL', 'liveroom' ), 'liveroom_server' ),
			array( 'agent_id', __( 'Agent id', 'liveroom' ), 'liveroom_server' ),
			array( 'api_key', __( 'API key', 'liveroom' ), 'liveroom_server' ),
			array( 'sitewide', __( 'Show on every page', 'liveroom' ), 'liveroom_button' ),
			array( 'button_text', __( 'Button text', 'liveroom' ), 'liveroom_button' ),
			array( 'position', __( 'Position', 'liveroom' ), 'liveroom_button' ),
			array( 'offline_mode', __( 'When no one is online', 'liveroom' ), 'liveroom_button' ),
			array( 'room_embed', __( 'Show rooms in the page', 'liveroom' ), 'liveroom_rooms' ),
		);
		foreach ( $fields as $f ) {
			add_settings_field(
				'liveroom_' . $f[0],
				$f[1],
				array( __CLASS__, 'field_' . $f[0] ),
				self::PAGE,
				$f[2],
				array( 'label_for' => 'liveroom_' . $f[0] )
			);
		}
	}

	/**
	 * Text under the button section's title.
	 */
	public static function button_intro(): void {
		echo '<p>' . esc_html__( 'Visitors see whether you are there and ask for a chat or a call. Show it on every page, or only where you put the [liveroom_button] shortcode or the "Liveroom contact button" block.', 'liveroom' ) . '</p>';
	}

	/**
	 * Text under the rooms section's title.
	 */
	public static function rooms_intro(): void {
		echo '<p>' . esc_html__( 'The [liveroom_room] shortcode or the "Liveroom meeting room" block gives each logged-in user a room with you, made through the API. To show it inside the page, add this site\'s address to the server\'s embed_origins option.', 'liveroom' ) . '</p>';
	}

	/**
	 * The name attribute of a setting.
	 *
	 * @param string $key Setting key.
	 */
	private static function name( string $key ): string {
		return Liveroom_Options::SETTINGS . '[' . $key . ']';
	}

	/**
	 * Server URL field.
	 */
	public static function field_server_url(): void {
		$o = Liveroom_Options::get();
		printf(
			'<input type="url" class="regular-text code" id="liveroom_server_url" name="%s" value="%s" placeholder="https://meet.example" />',
			esc_attr( self::name( 'server_url' ) ),
			esc_attr( $o['server_url'] )
		);
	}

	/**
	 * Agent id field.
	 */
	public static function field_agent_id(): void {
		$o = Liveroom_Options::get();
		printf(
			'<input type="text" class="regular-text code" id="liveroom_agent_id" name="%s" value="%s" pattern="[A-Za-z0-9_-]{1,64}" />',
			esc_attr( self::name( 'agent_id' ) ),
			esc_attr( $o['agent_id'] )
		);
		echo '<p class="description">' . esc_html__( 'The id you log in with on the Liveroom agent page.', 'liveroom' ) . '</p>';
	}

	/**
	 * API key field: the saved key is never sent back into the page.
	 */
	public static function field_api_key(): void {
		$saved = '' !== Liveroom_Options::api_key();
		printf(
			'<input type="password" class="regular-text code" id="liveroom_api_key" name="%s" value="" autocomplete="new-password" placeholder="%s" />',
			esc_attr( Liveroom_Options::API_KEY ),
			esc_attr( $saved ? __( 'A key is saved; type a new one to replace it', 'liveroom' ) : 'lrk_…' )
		);
		if ( $saved ) {
			echo ' <label><input type="checkbox" name="liveroom_remove_key" value="1" /> ' . esc_html__( 'Remove the saved key', 'liveroom' ) . '</label>';
		}
		echo '<p class="description">' . esc_html__( 'Made on the server with: liveroom admin apikey add --agent YOUR_AGENT_ID. It stays on this server and is used only for calls from WordPress to Liveroom.', 'liveroom' ) . '</p>';
	}

	/**
	 * Site-wide toggle.
	 */
	public static function field_sitewide(): void {
		$o = Liveroom_Options::get();
		printf(
			'<label><input type="checkbox" id="liveroom_sitewide" name="%s" value="1" %s /> %s</label>',
			esc_attr( self::name( 'sitewide' ) ),
			checked( ! empty( $o['sitewide'] ), true, false ),
			esc_html__( 'Show the contact button on every page of the site', 'liveroom' )
		);
	}

	/**
	 * Button text field.
	 */
	public static function field_button_text(): void {
		$o = Liveroom_Options::get();
		printf(
			'<input type="text" class="regular-text" id="liveroom_button_text" name="%s" value="%s" maxlength="60" placeholder="%s" />',
			esc_attr( self::name( 'button_text' ) ),
			esc_attr( $o['button_text'] ),
			esc_attr__( 'Talk to us', 'liveroom' )
		);
	}

	/**
	 * Position field.
	 */
	public static function field_position(): void {
		$o = Liveroom_Options::get();
		echo '<select id="liveroom_position" name="' . esc_attr( self::name( 'position' ) ) . '">';
		foreach ( array(
			'right' => __( 'Bottom right', 'liveroom' ),
			'left'  => __( 'Bottom left', 'liveroom' ),
		) as $value => $label ) {
			printf( '<option value="%s" %s>%s</option>', esc_attr( $value ), selected( $o['position'], $value, false ), esc_html( $label ) );
		}
		echo '</select>';
	}

	/**
	 * Offline behaviour: nothing, an e-mail form, or a contact page.
	 */
	public static function field_offline_mode(): void {
		$o     = Liveroom_Options::get();
		$modes = array(
			'none'  => __( 'Say that no one is available', 'liveroom' ),
			'email' => __( 'Offer a message form, mailed to this address (the agent\'s e-mail in Liveroom):', 'liveroom' ),
			'page'  => __( 'Send visitors to this contact page:', 'liveroom' ),
		);
		echo '<fieldset id="liveroom_offline_mode">';
		foreach ( $modes as $value => $label ) {
			printf(
				'<label><input type="radio" name="%s" value="%s" %s /> %s</label> ',
				esc_attr( self::name( 'offline_mode' ) ),
				esc_attr( $value ),
				checked( $o['offline_mode'], $value, false ),
				esc_html( $label )
			);
			if ( 'email' === $value ) {
				printf( '<input type="email" class="regular-text" id="liveroom_offline_email" name="%s" value="%s" />', esc_attr( self::name( 'offline_email' ) ), esc_attr( $o['offline_email'] ) );
			} elseif ( 'page' === $value ) {
				printf( '<input type="url" class="regular-text" id="liveroom_offline_page" name="%s" value="%s" />', esc_attr( self::name( 'offline_page' ) ), esc_attr( $o['offline_page'] ) );
			}
			echo '<br />';
		}
		echo '</fieldset>';
	}

	/**
	 * Embed toggle for rooms.
	 */
	public static function field_room_embed(): void {
		$o = Liveroom_Options::get();
		printf(
			'<label><input type="checkbox" id="liveroom_room_embed" name="%s" value="1" %s /> %s</label>',
			esc_attr( self::name( 'room_embed' ) ),
			checked( ! empty( $o['room_embed'] ), true, false ),
			esc_html__( 'Show the room inside the page (otherwise a link that opens it)', 'liveroom' )
		);
	}

	/**
	 * The page.
	 */
	public static function render(): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		$result = get_transient( self::result_key() );
		if ( is_array( $result ) ) {
			delete_transient( self::result_key() );
		}
		echo '<div class="wrap"><h1>' . esc_html( get_admin_page_title() ) . '</h1>';
		settings_errors( Liveroom_Options::SETTINGS );
		if ( is_array( $result ) ) {
			printf(
				'<div id="liveroom-test-result" class="notice %s" data-ok="%s"><p>%s</p></div>',
				esc_attr( $result['ok'] ? 'notice-success' : 'notice-error' ),
				esc_attr( $result['ok'] ? '1' : '0' ),
				esc_html( $result['message'] )
			);
		}
		echo '<form action="' . esc_url( admin_url( 'options.php' ) ) . '" method="post" id="liveroom-settings">';
		settings_fields( self::PAGE );
		do_settings_sections( self::PAGE );
		submit_button();
		echo '</form>';

		echo '<h2>' . esc_html__( 'Test connection', 'liveroom' ) . '</h2>';
		echo '<p>' . esc_html__( 'Checks the saved settings: that the server answers, that it takes the API key, and that the key belongs to the agent id above.', 'liveroom' ) . '</p>';
		echo '<form action="' . esc_url( admin_url( 'admin-post.php' ) ) . '" method="post" id="liveroom-test">';
		echo '<input type="hidden" name="action" value="' . esc_attr( self::ACTION ) . '" />';
		wp_nonce_field( self::ACTION );
		submit_button( __( 'Test connection', 'liveroom' ), 'secondary', 'liveroom-test-button', false );
		echo '</form></div>';
	}

	/**
	 * Where the last test's result waits for the page, per user.
	 */
	private static function result_key(): string {
		return 'liveroom_test_' . get_current_user_id();
	}

	/**
	 * Runs "Test connection" and goes back to the settings page.
	 */
	public static function test_connection(): void {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'You are not allowed to change the Liveroom settings.', 'liveroom' ), 403 );
		}
		check_admin_referer( self::ACTION );
		$o      = Liveroom_Options::get();
		$result = Liveroom_API::from_options()->check( (string) $o['agent_id'] );
		set_transient( self::result_key(), $result, MINUTE_IN_SECONDS );
		wp_safe_redirect( admin_url( 'options-general.php?page=' . self::PAGE ) );
		exit;
	}
}
