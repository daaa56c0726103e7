<?php
/**
 * The contact button: site-wide, [liveroom_button] shortcode and block.
 *
 * @package Liveroom
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Puts Liveroom's button.js on pages. Its options travel as data-* attributes
 * of the script tag; nothing secret is ever in them (the API key stays on the
 * server). When button.js cannot be loaded (the Liveroom server is down), a
 * small local script shows an offline button instead, so the page still says
 * how to reach you.
 */
final class Liveroom_Button {

	const HANDLE = 'liveroom-button';

	/**
	 * The data-* attributes for the button on this page; null when none.
	 *
	 * @var array<string, string>|null
	 */
	private static $attrs = null;

	/**
	 * Hooks the shortcode, the block and the site-wide button.
	 */
	public static function register(): void {
		add_shortcode( 'liveroom_button', array( __CLASS__, 'shortcode' ) );
		register_block_type(
			LIVEROOM_DIR . 'blocks/button',
			array( 'render_callback' => array( __CLASS__, 'render_block' ) )
		);
		add_action( 'wp_enqueue_scripts', array( __CLASS__, 'sitewide' ) );
		add_filter( 'script_loader_tag', array( __CLASS__, 'script_tag' ), 10, 2 );
	}

	/**
	 * Shows the button on every page when the site-wide toggle is on.
	 */
	public static function sitewide(): void {
		$o = Liveroom_Options::get();
		if ( ! empty( $o['sitewide'] ) ) {
			self::enqueue( array() );
		}
	}

	/**
	 * [liveroom_button text="…" position="left|right" room_id="…" offline_email="…" offline_page="…"]
	 *
	 * @param array|string $atts Shortcode attributes.
	 */
	public static function shortcode( $atts ): string {
		$atts = shortcode_atts(
			array(
				'text'          => '',
				'position'      => '',
				'room_id'       => '',
				'offline_email' => '',
				'offline_page'  => '',
			),
			is_array( $atts ) ? $atts : array(),
			'liveroom_button'
		);
		self::enqueue( $atts );
		// The button floats over the page; nothing is printed in place.
		return '';
	}

	/**
	 * Renders the block (the same options as the shortcode).
	 *
	 * @param array $attributes Block attributes.
	 */
	public static function render_block( $attributes ): string {
		$attributes = is_array( $attributes ) ? $attributes : array();
		return self::shortcode(
			array(
				'text'          => (string) ( $attributes['text'] ?? '' ),
				'position'      => (string) ( $attributes['position'] ?? '' ),
				'room_id'       => (string) ( $attributes['roomId'] ?? '' ),
				'offline_email' => (string) ( $attributes['offlineEmail'] ?? '' ),
				'offline_page'  => (string) ( $attributes['offlinePage'] ?? '' ),
			)
		);
	}

	/**
	 * The data-* attributes from the settings, with per-page overrides.
	 *
	 * @param array $over Overrides: text, position, room_id, offline_email, offline_page.
	 * @return array<string, string>|null Null when the plugin is not set up.
	 */
	public static function attributes( array $over ): ?array {
		$o = Liveroom_Options::get();
		if ( '' === $o['server_url'] || ! Liveroom_Options::valid_id( (string) $o['agent_id'] ) ) {
			return null;
		}
		$attrs = array( 'data-agent-id' => (string) $o['agent_id'] );
		$text  = '' !== ( $over['text'] ?? '' ) ? sanitize_text_field( $over['text'] ) : (string) $o['button_text'];
		if ( '' !== $text ) {
			$attrs['data-text'] = $text;
		}
		$position = '' !== ( $over['position'] ?? '' ) ? $over['position'] : $o['position'];
		if ( 'left' === $position ) {
			$attrs['data-position'] = 'left';
		}
		$room = trim( (string) ( $over['room_id'] ?? '' ) );
		if ( '' !== $room && Liveroom_Options::valid_id( $room ) ) {
			$attrs['data-room-id'] = $room;
		}
		$email = sanitize_email( (string) ( $over['offline_email'] ?? '' ) );
		$page  = esc_url_raw( (string) ( $over['offline_page'] ?? '' ), array( 'http', 'https' ) );
		if ( '' === $email && '' === $page ) {
			if ( 'email' === $o['offline_mode'] ) {
				$email = (string) $o['offline_email'];
			} elseif ( 'page' === $o['offline_mode'] ) {
				$page = (string) $o['offline_page'];
			}
		}
		if ( '' !== $email ) {
			$attrs['data-offline_email'] = $email;
		} elseif ( '' !== $page ) {
			$attrs['data-offline_page'] = $page;
		}
		return $attrs;
	}

	/**
	 * Queues button.js with these options; a later call (a shortcode on the
	 * page) replaces the site-wide options, so a page has one button.
	 *
	 * @param array $over Per-page options.
	 */
	private static function enqueue( array $over ): void {
		$attrs = self::attributes( $over );
		if ( null === $attrs ) {
			return;
		}
		self::$attrs = $attrs;
		$o           = Liveroom_Options::get();
		// The script is the server's, so it always matches the server's protocol.
		// phpcs:ignore WordPress.WP.EnqueuedResourceParameters.MissingVersion
		wp_enqueue_script( self::HANDLE, $o['server_url'] . '/static/button.js', array(), null, true );
		wp_enqueue_script( self::HANDLE . '-fallback', plugins_url( 'assets/fallback.js', LIVEROOM_FILE ), array(), LIVEROOM_VERSION, true );
		wp_localize_script(
			self::HANDLE . '-fallback',
			'liveroomFallback',
			array(
				'text'         => $attrs['data-text'] ?? __( 'Talk to us', 'liveroom' ),
				'offlineText'  => __( 'No one is available right now', 'liveroom' ),
				'position'     => $attrs['data-position'] ?? 'right',
				'offlineEmail' => $attrs['data-offline_email'] ?? '',
				'offlinePage'  => $attrs['data-offline_page'] ?? '',
			)
		);
	}

	/**
	 * Adds the data-* attributes and async to button.js's tag.
	 *
	 * @param string $tag    The script tag.
	 * @param string $handle Its handle.
	 */
	public static function script_tag( string $tag, string $handle ): string {
		if ( self::HANDLE !== $handle || null === self::$attrs ) {
			return $tag;
		}
		$extra = ' async';
		foreach ( self::$attrs as $name => $value ) {
			$extra .= ' ' . $name . '="' . esc_attr( $value ) . '"';
		}
		return preg_replace( '/<script\b/', '<script' . $extra, $tag, 1 );
	}
}
